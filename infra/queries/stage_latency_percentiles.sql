-- p50/p95/p99 stage latency in milliseconds: time from the event that starts a stage to the
-- event that completes it, over the orders that completed it.
WITH times AS (
    SELECT
        order_id,
        min(CASE WHEN event_type = 'OrderPlaced' THEN occurred_at END) AS placed,
        min(CASE WHEN event_type = 'PaymentCaptured' THEN occurred_at END) AS captured,
        min(CASE WHEN event_type = 'InventoryReserved' THEN occurred_at END) AS reserved,
        min(CASE WHEN event_type = 'LabelCreated' THEN occurred_at END) AS labelled,
        min(CASE WHEN event_type = 'OrderConfirmed' THEN occurred_at END) AS confirmed
    FROM audit_events
    GROUP BY order_id
),
latencies AS (
    SELECT 'payment' AS stage, date_diff('millisecond', placed, captured) AS ms
    FROM times WHERE captured IS NOT NULL
    UNION ALL
    SELECT 'inventory', date_diff('millisecond', captured, reserved)
    FROM times WHERE reserved IS NOT NULL
    UNION ALL
    SELECT 'shipping', date_diff('millisecond', reserved, labelled)
    FROM times WHERE labelled IS NOT NULL
    UNION ALL
    SELECT 'confirmation', date_diff('millisecond', labelled, confirmed)
    FROM times WHERE confirmed IS NOT NULL
    UNION ALL
    SELECT 'end_to_end', date_diff('millisecond', placed, confirmed)
    FROM times WHERE confirmed IS NOT NULL
)
SELECT
    stage,
    count(*) AS orders,
    approx_percentile(ms, 0.50) AS p50_ms,
    approx_percentile(ms, 0.95) AS p95_ms,
    approx_percentile(ms, 0.99) AS p99_ms
FROM latencies
GROUP BY stage
ORDER BY stage;
