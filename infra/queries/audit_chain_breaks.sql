-- Audit chain breaks: an order's events form one hash chain (each event's prev_hash is its
-- predecessor's hash; sequences run 1, 2, 3, ...). Each row names an event that breaks it and
-- how: 'removed' (a sequence number is missing), 'reordered' (the event's prev_hash is the hash
-- of another event of the order than the one before it), 'altered' (the event before it no
-- longer carries the hash this one recorded). Copies of one event (at-least-once delivery)
-- are not breaks. A change to an event's content that keeps its hash is found by recomputing
-- the hash (pipeline.analytics.integrity), which SQL cannot do over canonical JSON.
WITH events AS (
    SELECT DISTINCT order_id, sequence, event_id, prev_hash, hash
    FROM audit_events
),
chained AS (
    SELECT
        order_id,
        sequence,
        event_id,
        prev_hash,
        lag(sequence) OVER (PARTITION BY order_id ORDER BY sequence, event_id) AS prev_sequence,
        lag(hash) OVER (PARTITION BY order_id ORDER BY sequence, event_id) AS prev_event_hash
    FROM events
),
linked AS (  -- the event of the same order whose hash this one's prev_hash names, if any
    SELECT c.*, e.sequence AS linked_sequence
    FROM chained AS c
    LEFT JOIN events AS e ON e.order_id = c.order_id AND e.hash = c.prev_hash
),
breaks AS (
    SELECT
        order_id,
        sequence,
        event_id,
        CASE
            WHEN prev_sequence IS NULL AND sequence > 1 THEN 'removed'
            WHEN sequence > prev_sequence + 1 THEN 'removed'
            WHEN prev_sequence = sequence THEN 'duplicate sequence'
            WHEN prev_sequence IS NULL AND prev_hash IS NULL THEN NULL
            WHEN prev_hash = prev_event_hash THEN NULL
            WHEN linked_sequence IS NOT NULL THEN 'reordered'
            ELSE 'altered'
        END AS problem,
        CASE
            WHEN prev_sequence IS NULL AND sequence > 1 THEN 1
            WHEN sequence > prev_sequence + 1 THEN prev_sequence + 1
            WHEN prev_sequence IS NULL OR linked_sequence IS NOT NULL THEN sequence
            ELSE prev_sequence
        END AS named_sequence
    FROM linked
)
SELECT order_id, named_sequence AS sequence, problem, sequence AS found_at_sequence, event_id
FROM breaks
WHERE problem IS NOT NULL
ORDER BY order_id, sequence;
