-- PostgreSQL twin of ../sqlite/20261122000002_rollout.sql: the same tables, 64-bit integers, double precision.
-- Safe rollout: persisted per-minute traffic, A/B feedback, canary plans.

-- One minute of one generation's traffic on one node. Latencies are an HDR histogram's
-- recorded values as JSON [[microseconds, count], …].
CREATE TABLE traffic_minutes (
    service       TEXT NOT NULL,
    node          TEXT NOT NULL,
    generation    TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('live', 'shadow')),
    minute        BIGINT NOT NULL,          -- Unix time / 60
    requests      BIGINT NOT NULL,
    errors        BIGINT NOT NULL,
    rejected      BIGINT NOT NULL,
    compared      BIGINT NOT NULL,
    agreed        BIGINT NOT NULL,
    abs_diff_sum  DOUBLE PRECISION NOT NULL,
    latency_json  TEXT NOT NULL,
    PRIMARY KEY (service, node, generation, role, minute)
);

-- Ground truth or a business outcome for one prediction, for A/B results.
CREATE TABLE feedback (
    service     TEXT NOT NULL REFERENCES services(name),
    node        TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    generation  TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    outcome     DOUBLE PRECISION NOT NULL,
    "binary"    BIGINT NOT NULL CHECK ("binary" IN (0, 1)),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (service, node, request_id)
);
CREATE INDEX feedback_by_time ON feedback (service, node, created_at);

-- A canary plan and where it stands. `state_json` is rewritten as the controller advances.
CREATE TABLE canaries (
    service     TEXT NOT NULL REFERENCES services(name),
    node        TEXT NOT NULL,
    id          BIGINT NOT NULL,
    plan_json   TEXT NOT NULL,
    state_json  TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (service, node, id)
);

-- Revisions written by a canary controller name it.
ALTER TABLE revisions ADD COLUMN canary_id BIGINT;
