-- Cars leaving the fleet per day.
SELECT CAST(deregistration_date AS DATE) AS day, count(*) AS cars
FROM core.cars
WHERE _is_current AND deregistration_date IS NOT NULL
GROUP BY 1
ORDER BY 1
