-- persons: one row per person, identity stitched: events made before a login (or under an
-- earlier user id) count for the person they were linked to later, through `identity_roots`
-- (`identities` resolved to the end of every chain of links, the same way the analyses
-- resolve them). Bots are left out.
-- Rebuilt whole (no `date` column) whenever new data arrived; needs the processor's tables.
WITH resolved AS (
    SELECT
        coalesce(r.person_id, e.person_id) AS person_id,
        e.user_id,
        e.anonymous_id,
        e.event_time,
        e.traits
    FROM events e
    LEFT JOIN identity_roots r ON r.id = e.person_id
    WHERE NOT e.is_bot
)
SELECT
    person_id,
    max(user_id) AS user_id,
    count(DISTINCT anonymous_id) AS anonymous_ids,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen,
    count(*) AS events,
    last_value(traits ORDER BY event_time) FILTER (WHERE traits IS NOT NULL) AS traits
FROM resolved
GROUP BY person_id
