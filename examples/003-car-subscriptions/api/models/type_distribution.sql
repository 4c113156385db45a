-- Subscriptions by term and customer type.
SELECT s.term_months, k.type, count(*) AS subscriptions
FROM core.subscriptions AS s
JOIN core.customers AS k ON k.id = s.customer_id AND k._is_current
GROUP BY s.term_months, k.type
ORDER BY s.term_months, k.type
