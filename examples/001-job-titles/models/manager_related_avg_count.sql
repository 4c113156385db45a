-- The average count of the titles that list "manager" as a related title.
SELECT avg(j.pdl_count) AS avg_pdl_count, count(*) AS titles
FROM core.job_titles AS j
WHERE EXISTS (
  SELECT 1 FROM core.related_titles AS r
  WHERE r.title = j.title AND r.kind = 'title' AND r.related_title = 'manager'
)
