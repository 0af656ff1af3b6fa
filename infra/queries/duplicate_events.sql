-- Duplicate-event detection: the same event delivered to the lake more than once (copies > 1,
-- one event_id: an at-least-once redelivery) or two different events claiming one sequence
-- number of an order (distinct_event_ids > 1: a broken store).
SELECT
    order_id,
    sequence,
    count(*) AS copies,
    count(DISTINCT event_id) AS distinct_event_ids
FROM audit_events
GROUP BY order_id, sequence
HAVING count(*) > 1
ORDER BY order_id, sequence;
