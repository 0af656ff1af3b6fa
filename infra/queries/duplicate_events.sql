-- Duplicate-event detection: the same event delivered to the lake more than once (copies > 1,
-- one event_id: an at-least-once redelivery) or two different events claiming one sequence
-- number of an order (distinct_event_ids > 1: a broken store). The repeated (order, sequence)
-- pairs are found first; event ids are counted for those few only.
WITH repeated AS (
    SELECT order_id, sequence, count(*) AS copies
    FROM audit_events
    GROUP BY order_id, sequence
    HAVING count(*) > 1
)
SELECT
    r.order_id,
    r.sequence,
    r.copies,
    count(DISTINCT a.event_id) AS distinct_event_ids
FROM repeated AS r
JOIN audit_events AS a ON a.order_id = r.order_id AND a.sequence = r.sequence
GROUP BY r.order_id, r.sequence, r.copies
ORDER BY r.order_id, r.sequence;
