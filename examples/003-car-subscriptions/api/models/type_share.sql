-- For each month and brand: the share of active subscriptions held by b2b and b2c
-- customers. A subscription is active in a month when the month's first day falls between
-- its start and its end (start + term).
WITH months AS (
  SELECT unnest(generate_series(
    date_trunc('month', (SELECT min(start_date) FROM core.subscriptions)),
    date_trunc('month', (SELECT max(start_date + to_months(term_months)) FROM core.subscriptions)),
    INTERVAL 1 MONTH)) AS month
), active AS (
  SELECT m.month, c.brand, k.type
  FROM months AS m
  JOIN core.subscriptions AS s
    ON m.month BETWEEN s.start_date AND s.start_date + to_months(s.term_months)
  JOIN core.cars AS c ON c.id = s.car_id AND c._is_current
  JOIN core.customers AS k ON k.id = s.customer_id AND k._is_current
)
SELECT month, brand,
  avg(CASE WHEN type = 'b2b' THEN 1.0 ELSE 0.0 END) AS b2b_share,
  avg(CASE WHEN type = 'b2c' THEN 1.0 ELSE 0.0 END) AS b2c_share,
  count(*) AS active_subscriptions
FROM active
GROUP BY month, brand
ORDER BY month, brand
