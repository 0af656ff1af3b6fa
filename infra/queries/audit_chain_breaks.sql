-- Audit chain breaks: an order's events form one hash chain (each event's prev_hash is its
-- predecessor's hash; sequences run 1, 2, 3, ...). Each row names an event that breaks it and
-- how: 'removed' (a sequence number is missing), 'reordered' (the event's prev_hash is the hash
-- of another event of the order than the one before it), 'altered' (the event before it no
-- longer carries the hash this one recorded), 'duplicate sequence' (two different events claim
-- one number). Copies of one event (at-least-once delivery) are not breaks.
-- Links are compared by a 64-bit digest of each SHA-256 (xxhash64), which keeps the sort over
-- the whole lake cheap; pipeline.analytics.integrity recomputes every SHA-256 from the
-- payloads, which also finds an edit that kept the stored hash.
WITH links AS (
    SELECT
        order_id,
        xxhash64(to_utf8(order_id)) AS order_key,
        sequence,
        event_id,
        xxhash64(to_utf8(prev_hash)) AS prev_link,
        xxhash64(to_utf8(hash)) AS link
    FROM audit_events
),
chained AS (
    SELECT
        order_id,
        sequence,
        event_id,
        prev_link,
        link,
        lag(sequence) OVER (PARTITION BY order_key ORDER BY sequence, link) AS prev_sequence,
        lag(link) OVER (PARTITION BY order_key ORDER BY sequence, link) AS prev_event_link
    FROM links
),
breaks AS (
    SELECT *
    FROM chained
    WHERE NOT (
        (prev_sequence IS NULL AND sequence = 1 AND prev_link IS NULL)
        OR (sequence = prev_sequence AND link = prev_event_link)  -- a copy of the same event
        OR (sequence = prev_sequence + 1 AND prev_link = prev_event_link)
    )
),
linked AS (  -- the event of the same order whose hash this one's prev_hash names, if any
    SELECT b.*, min(l.sequence) AS linked_sequence
    FROM breaks AS b
    LEFT JOIN links AS l ON l.order_id = b.order_id AND l.link = b.prev_link
    GROUP BY b.order_id, b.sequence, b.event_id, b.prev_link, b.link, b.prev_sequence,
        b.prev_event_link
)
SELECT
    order_id,
    CASE
        WHEN prev_sequence IS NULL AND sequence > 1 THEN 1
        WHEN sequence > prev_sequence + 1 THEN prev_sequence + 1
        WHEN prev_sequence IS NULL OR sequence = prev_sequence OR linked_sequence IS NOT NULL
            THEN sequence
        ELSE prev_sequence
    END AS sequence,
    CASE
        WHEN prev_sequence IS NULL AND sequence > 1 THEN 'removed'
        WHEN sequence > prev_sequence + 1 THEN 'removed'
        WHEN sequence = prev_sequence THEN 'duplicate sequence'
        WHEN linked_sequence IS NOT NULL THEN 'reordered'
        ELSE 'altered'
    END AS problem,
    sequence AS found_at_sequence,
    event_id
FROM linked
ORDER BY order_id, sequence;
