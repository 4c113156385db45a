-- Cars added to the fleet per day.
SELECT CAST(registration_date AS DATE) AS day, count(*) AS cars
FROM core.cars
WHERE _is_current AND registration_date IS NOT NULL
GROUP BY 1
ORDER BY 1
