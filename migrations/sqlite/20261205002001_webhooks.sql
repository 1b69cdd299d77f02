-- Notifications (see src/notify/): webhooks and their persisted outbox.
-- Timestamps are Unix milliseconds (UTC).

-- A webhook: where events are POSTed, for one service or (service NULL) every service.
-- `secret` signs the body (HMAC-SHA256); it is never returned by the API after creation.
-- Removed webhooks keep their row (`removed_at`) so their deliveries stay readable.
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL,
    service     TEXT REFERENCES services(name),
    secret      TEXT,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    removed_at  INTEGER
);

-- The outbox: one row per event and webhook, written when the event happens, delivered
-- later by a node's deliverer. `body` is the exact JSON sent. A node claims a due row until
-- `claimed_until` (one statement decides), so nodes sharing a registry deliver it once.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY NOT NULL,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id),
    event           TEXT NOT NULL,
    service         TEXT,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL,
    max_attempts    INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);

-- Every attempt of a delivery: the HTTP status the endpoint answered, or why none came.
CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id),
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    instance    TEXT NOT NULL,
    status      INTEGER,
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
