-- Captured rows are stored in blocks: one row of `capture_blocks` holds one writer batch of
-- one service (up to 4,096 captured requests) as a JSON array, so a captured request costs
-- its JSON text, not a row and three index entries of its own (the random request-id key
-- dirtied a page per row; see bench/RESULTS.md, "Traffic capture on the request path").
--
-- `rows_json`: the rows in capture order, written compactly (src/capture/store.rs,
-- `Compact`: each row an array of its values, feature and class names once per block); the
-- rows moved here below are one object each ({"slot", "at_ms", "revision", "generation",
-- "request_id", "features", "label", "value", "probabilities", "latency_ms",
-- "shadow_generation", "shadow_label", "shadow_value"}). A row's id is `block id × 65,536 + slot`, and its
-- slot stays when retention or the cap rewrites the block. `first_request_id` keys the block:
-- a batch the writer tries again is stored once. Feedback joins each row at read time through
-- the feedback table's (service, node, request_id) key.
CREATE TABLE capture_blocks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    service           TEXT NOT NULL,
    node              TEXT NOT NULL,
    instance          TEXT NOT NULL,
    first_request_id  TEXT NOT NULL,
    first_ms          INTEGER NOT NULL,
    last_ms           INTEGER NOT NULL,
    row_count         INTEGER NOT NULL CHECK (row_count > 0),
    rows_json         TEXT NOT NULL,
    UNIQUE (service, first_request_id)
);
-- Time windows (listing, export, replay, retention) and walks in capture order (the cap).
CREATE INDEX capture_blocks_by_time ON capture_blocks (service, last_ms);
CREATE INDEX capture_blocks_by_id ON capture_blocks (service, id);

-- Rows captured before: one block each, in their order.
INSERT INTO capture_blocks (service, node, instance, first_request_id, first_ms, last_ms, row_count, rows_json)
SELECT service, node, instance, request_id, at_ms, at_ms, 1,
       json_array(json_object(
           'slot', 0, 'at_ms', at_ms, 'revision', revision, 'generation', generation,
           'request_id', request_id, 'features', json(features_json), 'label', label,
           'value', value, 'probabilities', json(probabilities_json), 'latency_ms', latency_ms,
           'shadow_generation', shadow_generation, 'shadow_label', shadow_label,
           'shadow_value', shadow_value))
FROM capture_rows ORDER BY id;

DROP TABLE capture_rows;
