-- Funnel and drop-off by stage: how many orders reached each stage of the happy path, and how
-- many of those that reached the previous stage did not get this far.
WITH reached AS (
    SELECT
        order_id,
        max(CASE WHEN event_type = 'OrderPlaced' THEN 1 ELSE 0 END) AS placed,
        max(CASE WHEN event_type = 'PaymentAuthorized' THEN 1 ELSE 0 END) AS authorized,
        max(CASE WHEN event_type = 'PaymentCaptured' THEN 1 ELSE 0 END) AS captured,
        max(CASE WHEN event_type = 'InventoryReserved' THEN 1 ELSE 0 END) AS reserved,
        max(CASE WHEN event_type = 'LabelCreated' THEN 1 ELSE 0 END) AS labelled,
        max(CASE WHEN event_type = 'OrderConfirmed' THEN 1 ELSE 0 END) AS confirmed
    FROM audit_events
    GROUP BY order_id
),
stages AS (
    SELECT 1 AS step, 'placed' AS stage, sum(placed) AS orders FROM reached
    UNION ALL SELECT 2, 'payment_authorized', sum(authorized) FROM reached
    UNION ALL SELECT 3, 'payment_captured', sum(captured) FROM reached
    UNION ALL SELECT 4, 'inventory_reserved', sum(reserved) FROM reached
    UNION ALL SELECT 5, 'label_created', sum(labelled) FROM reached
    UNION ALL SELECT 6, 'confirmed', sum(confirmed) FROM reached
)
SELECT
    step,
    stage,
    orders,
    coalesce(lag(orders) OVER (ORDER BY step) - orders, 0) AS dropped
FROM stages
ORDER BY step;
