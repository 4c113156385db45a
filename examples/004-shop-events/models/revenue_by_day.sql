-- Revenue per day: erasing customers anonymises their transactions, so this does not move.
SELECT record_date, count(*) AS transactions, sum(total_cost) AS revenue
FROM core.transactions
GROUP BY record_date
ORDER BY record_date
