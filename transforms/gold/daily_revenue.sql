-- daily_revenue: per day, the orders completed, their revenue and the distinct buyers.
--
-- Orders are `Order Completed` track events (Segment's e-commerce spec), each counted once
-- (by messageId). Revenue is the order's `revenue` property, else its `total`.
-- Incremental: the job hands this query only the days that received new data and replaces
-- those days of the table (its `date` column is the partition).
WITH orders AS (
    SELECT DISTINCT ON (message_id)
        event_date,
        coalesce(user_id, anonymous_id) AS buyer,
        coalesce(json_get_float(properties, 'revenue'), json_get_float(properties, 'total'), 0.0) AS revenue
    FROM raw_events
    WHERE type = 'track' AND event = 'Order Completed'
    ORDER BY message_id, log_offset
)
SELECT
    event_date AS date,
    count(*) AS orders,
    round(sum(revenue), 2) AS revenue,
    count(DISTINCT buyer) AS buyers
FROM orders
GROUP BY event_date
