-- Several nodes on one registry. Each process is an instance (serve --instance, default the
-- host name): traffic minutes and scenario runs record theirs, so nodes never overwrite each
-- other's minutes and a restarting node abandons only its own runs. Leases let one instance
-- at a time do the work only one may do (scenario scheduler, canary controller) and say
-- which instances are alive. Secrets of the registry (the key request ids are signed with)
-- are made by the first node and shared by all.

CREATE TABLE traffic_minutes_by_instance (
    service       TEXT NOT NULL,
    node          TEXT NOT NULL,
    instance      TEXT NOT NULL DEFAULT '',
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
    PRIMARY KEY (service, node, instance, generation, role, minute)
);
-- Minutes written before instances existed keep an empty instance.
INSERT INTO traffic_minutes_by_instance
    SELECT service, node, '', generation, role, minute, requests, errors, rejected, compared, agreed, abs_diff_sum, latency_json
    FROM traffic_minutes;
DROP TABLE traffic_minutes;
ALTER TABLE traffic_minutes_by_instance RENAME TO traffic_minutes;

ALTER TABLE scenario_runs ADD COLUMN instance TEXT NOT NULL DEFAULT '';

-- `name` is held by `holder` until `expires_at` (Unix ms); a holder renews it, anyone may
-- take it once expired.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE registry_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
