-- Traffic capture and replay (see src/capture/). Timestamps are Unix milliseconds (UTC).

-- A deployment's capture policy. No row: capture is off.
CREATE TABLE capture_policies (
    service            TEXT PRIMARY KEY NOT NULL REFERENCES services(name),
    percent            REAL NOT NULL CHECK (percent >= 0 AND percent <= 100),
    max_rows           INTEGER NOT NULL CHECK (max_rows > 0),
    retention_seconds  INTEGER NOT NULL CHECK (retention_seconds > 0),
    drop_json          TEXT NOT NULL,   -- features never stored: ["name", …]
    hash_json          TEXT NOT NULL,   -- features stored as a keyed HMAC-SHA256
    updated_by         TEXT NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- A captured request and its answer. `features_json` is the request's features after the
-- policy's drop and hash. Classifiers: `label` (class name), `probabilities_json`
-- ([[class, p], …]); regressors: `value`. `shadow_*`: the shadow generation's answer, when
-- one ran on this request.
CREATE TABLE capture_rows (
    id                  INTEGER PRIMARY KEY,
    service             TEXT NOT NULL,
    node                TEXT NOT NULL,
    instance            TEXT NOT NULL,
    at_ms               INTEGER NOT NULL,
    revision            INTEGER NOT NULL,
    generation          TEXT NOT NULL,
    request_id          TEXT NOT NULL,
    features_json       TEXT NOT NULL,
    label               TEXT,
    value               REAL,
    probabilities_json  TEXT,
    latency_ms          REAL NOT NULL,
    shadow_generation   TEXT,
    shadow_label        TEXT,
    shadow_value        REAL,
    UNIQUE (service, request_id)
);
CREATE INDEX capture_rows_by_time ON capture_rows (service, at_ms);
CREATE INDEX capture_rows_by_request ON capture_rows (request_id);

-- A replay: captured requests of a window run through a version; `figures_json` holds the
-- result (agreement, ground truth, latency, the rows that disagree most).
CREATE TABLE replays (
    id            INTEGER PRIMARY KEY,
    service       TEXT NOT NULL REFERENCES services(name),
    node          TEXT NOT NULL,
    version       TEXT NOT NULL,
    since_ms      INTEGER NOT NULL,
    until_ms      INTEGER NOT NULL,
    row_limit     INTEGER,
    status        TEXT NOT NULL CHECK (status IN ('running', 'done', 'cancelled', 'failed')),
    replayed      INTEGER NOT NULL,
    total         INTEGER NOT NULL,
    figures_json  TEXT,
    error         TEXT,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX replays_by_service ON replays (service, created_at);
