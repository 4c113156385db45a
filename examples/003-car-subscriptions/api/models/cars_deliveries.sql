-- Subscriptions starting per customer city and day: the deliveries to plan.
SELECT k.city, CAST(s.start_date AS DATE) AS day, count(*) AS deliveries
FROM core.subscriptions AS s
JOIN core.customers AS k ON k.id = s.customer_id AND k._is_current
GROUP BY 1, 2
ORDER BY 2, 1
