-- PostgreSQL twin of ../sqlite/20261125000001_instances.sql: the same tables, 64-bit integers.
-- Several nodes on one registry. Each process is an instance (serve --instance, default the
-- host name): traffic minutes and scenario runs record theirs, so nodes never overwrite each
-- other's minutes and a restarting node abandons only its own runs. Leases let one instance
-- at a time do the work only one may do (scenario scheduler, canary controller) and say
-- which instances are alive. Secrets of the registry (the key request ids are signed with)
-- are made by the first node and shared by all.

-- Minutes written before instances existed keep an empty instance.
ALTER TABLE traffic_minutes ADD COLUMN instance TEXT NOT NULL DEFAULT '';
ALTER TABLE traffic_minutes DROP CONSTRAINT traffic_minutes_pkey;
ALTER TABLE traffic_minutes ADD PRIMARY KEY (service, node, instance, generation, role, minute);

ALTER TABLE scenario_runs ADD COLUMN instance TEXT NOT NULL DEFAULT '';

-- `name` is held by `holder` until `expires_at` (Unix ms); a holder renews it, anyone may
-- take it once expired.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE registry_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
