-- PostgreSQL twin of ../sqlite/20261122000001_registry.sql: the same tables, 64-bit integers, double precision.
-- The registry: services, their immutable versions, deployments and their append-only revisions.
-- Timestamps are Unix milliseconds (UTC).

CREATE TABLE services (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

-- A version is never updated or deleted: ids are never reused.
CREATE TABLE versions (
    service          TEXT NOT NULL REFERENCES services(name),
    id               TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    artifact_sha256  TEXT NOT NULL,
    artifact_size    BIGINT NOT NULL,
    schema_json      TEXT NOT NULL,
    metrics_json     TEXT NOT NULL,
    provenance_json  TEXT NOT NULL,
    notes            TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (service, id),
    UNIQUE (service, seq)
);

-- A service deployed on an API node. Its active config is its latest revision.
CREATE TABLE deployments (
    service    TEXT NOT NULL REFERENCES services(name),
    node       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (service, node)
);

-- Every change of a deployment's config. Append-only: rollback appends a copy.
CREATE TABLE revisions (
    service       TEXT NOT NULL,
    node          TEXT NOT NULL,
    number        BIGINT NOT NULL,
    config_json   TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    rollback_of   BIGINT,
    author        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (service, node, number),
    FOREIGN KEY (service, node) REFERENCES deployments(service, node)
);
