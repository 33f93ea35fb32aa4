-- persons: one row per person, identity stitched: events made before a login (or under an
-- earlier user id) count for the person they were linked to later, through `identities`
-- (two hops: anonymous id -> user id -> aliased user id). Bots are left out.
-- Rebuilt whole (no `date` column) whenever new data arrived; needs the processor's tables.
WITH resolved AS (
    SELECT
        coalesce(i2.person_id, i1.person_id, e.person_id) AS person_id,
        e.user_id,
        e.anonymous_id,
        e.event_time,
        e.traits
    FROM events e
    LEFT JOIN identities i1 ON i1.id = e.person_id
    LEFT JOIN identities i2 ON i2.id = i1.person_id
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
