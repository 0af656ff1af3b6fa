-- Failure and remediation outcomes by day: the failed steps the pipeline recorded (after their
-- retries were exhausted) and the compensations that failed and were handed to operations.
SELECT
    date_trunc('day', occurred_at) AS day,
    event_type,
    coalesce(reason, '') AS reason,
    count(*) AS events,
    count(DISTINCT order_id) AS orders
FROM audit_events
WHERE event_type IN (
    'PaymentFailed', 'InventoryReservationFailed', 'LabelFailed', 'CompensationFailed'
)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
