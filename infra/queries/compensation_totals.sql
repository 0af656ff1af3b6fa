-- Compensation and refund totals: for each saga trigger (reservation failed, label failed),
-- how many orders compensated, how much money was refunded, and how many compensations failed.
WITH triggers AS (
    SELECT DISTINCT order_id, event_type AS trigger_event
    FROM audit_events
    WHERE event_type IN ('InventoryReservationFailed', 'LabelFailed')
),
refunds AS (  -- de-duplicated by event_id: the lake is fed at least once
    SELECT order_id, sum(amount) AS refunded
    FROM (SELECT DISTINCT event_id, order_id, amount FROM audit_events
          WHERE event_type = 'PaymentRefunded') AS r
    GROUP BY order_id
),
failures AS (
    SELECT DISTINCT order_id
    FROM audit_events
    WHERE event_type = 'CompensationFailed'
)
SELECT
    t.trigger_event,
    count(*) AS orders,
    coalesce(sum(r.refunded), 0) AS refunded_total,
    count(f.order_id) AS compensation_failures
FROM triggers AS t
LEFT JOIN refunds AS r ON r.order_id = t.order_id
LEFT JOIN failures AS f ON f.order_id = t.order_id
GROUP BY t.trigger_event
ORDER BY t.trigger_event;
