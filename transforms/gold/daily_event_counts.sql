-- daily_event_counts: per day and event, the events and the distinct people who sent them.
--
-- Bronze keeps every delivery, so each message is counted once (by messageId). `event` is the
-- track event's name, or the message type for the other calls (page, screen, identify, ...).
-- People are the user id, else the anonymous id (identity stitching comes with `persons`).
-- Incremental: the job hands this query only the days that received new data and replaces
-- those days of the table (its `date` column is the partition).
WITH messages AS (
    SELECT DISTINCT ON (message_id)
        event_date,
        coalesce(event, type) AS event,
        coalesce(user_id, anonymous_id) AS person
    FROM raw_events
    ORDER BY message_id, log_offset
)
SELECT
    event_date AS date,
    event,
    count(*) AS events,
    count(DISTINCT person) AS users
FROM messages
GROUP BY event_date, event
