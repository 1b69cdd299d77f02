-- Safe rollout: persisted per-minute traffic, A/B feedback, canary plans.

-- One minute of one generation's traffic on one node. Latencies are an HDR histogram's
-- recorded values as JSON [[microseconds, count], …].
CREATE TABLE traffic_minutes (
    service       TEXT NOT NULL,
    node          TEXT NOT NULL,
    generation    TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('live', 'shadow')),
    minute        INTEGER NOT NULL,          -- Unix time / 60
    requests      INTEGER NOT NULL,
    errors        INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    compared      INTEGER NOT NULL,
    agreed        INTEGER NOT NULL,
    abs_diff_sum  REAL NOT NULL,
    latency_json  TEXT NOT NULL,
    PRIMARY KEY (service, node, generation, role, minute)
);

-- Ground truth or a business outcome for one prediction, for A/B results.
CREATE TABLE feedback (
    service     TEXT NOT NULL REFERENCES services(name),
    node        TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    generation  TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    outcome     REAL NOT NULL,
    binary      INTEGER NOT NULL CHECK (binary IN (0, 1)),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (service, node, request_id)
);
CREATE INDEX feedback_by_time ON feedback (service, node, created_at);

-- A canary plan and where it stands. `state_json` is rewritten as the controller advances.
CREATE TABLE canaries (
    service     TEXT NOT NULL REFERENCES services(name),
    node        TEXT NOT NULL,
    id          INTEGER NOT NULL,
    plan_json   TEXT NOT NULL,
    state_json  TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (service, node, id)
);

-- Revisions written by a canary controller name it.
ALTER TABLE revisions ADD COLUMN canary_id INTEGER;
