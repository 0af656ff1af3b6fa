-- Orders per status per hour: how many orders reached each lifecycle status in each hour,
-- counted from the events that move an order into that status.
SELECT
    date_trunc('hour', occurred_at) AS hour,
    CASE event_type
        WHEN 'OrderPlaced' THEN 'PLACED'
        WHEN 'PaymentAuthorized' THEN 'PAYMENT_AUTHORIZED'
        WHEN 'PaymentCaptured' THEN 'PAYMENT_CAPTURED'
        WHEN 'InventoryReserved' THEN 'INVENTORY_RESERVED'
        WHEN 'LabelCreated' THEN 'LABEL_CREATED'
        WHEN 'OrderConfirmed' THEN 'CONFIRMED'
        WHEN 'OrderCancelled' THEN 'CANCELLED'
        WHEN 'CompensationFailed' THEN 'COMPENSATION_FAILED'
    END AS status,
    count(DISTINCT order_id) AS orders
FROM audit_events
WHERE event_type IN (
    'OrderPlaced', 'PaymentAuthorized', 'PaymentCaptured', 'InventoryReserved',
    'LabelCreated', 'OrderConfirmed', 'OrderCancelled', 'CompensationFailed'
)
GROUP BY 1, 2
ORDER BY 1, 2;
