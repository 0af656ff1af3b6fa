-- Revenue reconciliation: money captured minus money refunded must equal the value of the
-- confirmed orders; a non-zero difference names money held for orders that did not complete.
-- Events are de-duplicated by event_id first: the lake is fed at least once.
WITH events AS (
    SELECT DISTINCT event_id, order_id, event_type, amount
    FROM audit_events
    WHERE event_type IN ('OrderPlaced', 'PaymentCaptured', 'PaymentRefunded', 'OrderConfirmed')
),
money AS (
    SELECT
        order_id,
        sum(CASE WHEN event_type = 'PaymentCaptured' THEN amount ELSE 0 END) AS captured,
        sum(CASE WHEN event_type = 'PaymentRefunded' THEN amount ELSE 0 END) AS refunded,
        max(CASE WHEN event_type = 'OrderPlaced' THEN amount END) AS order_total,
        max(CASE WHEN event_type = 'OrderConfirmed' THEN 1 ELSE 0 END) AS confirmed
    FROM events
    GROUP BY order_id
)
SELECT
    sum(captured) AS captured,
    sum(refunded) AS refunded,
    sum(captured) - sum(refunded) AS net_captured,
    sum(CASE WHEN confirmed = 1 THEN order_total ELSE 0 END) AS confirmed_revenue,
    sum(captured) - sum(refunded)
        - sum(CASE WHEN confirmed = 1 THEN order_total ELSE 0 END) AS difference,
    sum(CASE WHEN confirmed = 0 AND captured - refunded <> 0 THEN 1 ELSE 0 END)
        AS orders_holding_money
FROM money;
