-- The 10 titles with the most related titles (skills not counted).
SELECT title, count(*) AS related_titles
FROM core.related_titles
WHERE kind = 'title'
GROUP BY title
ORDER BY related_titles DESC, title
LIMIT 10
