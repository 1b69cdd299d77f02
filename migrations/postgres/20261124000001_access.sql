-- PostgreSQL twin of ../sqlite/20261124000001_access.sql: the same tables, 64-bit integers, double precision.
-- Access control of a deployment's prediction API (see src/auth/).

-- A deployment's auth mode. No row: 'none'. Kept apart from revisions so a rollback never
-- changes who may call the deployment.
CREATE TABLE deployment_auth (
    service     TEXT NOT NULL REFERENCES services(name),
    node        TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('none', 'api_key', 'basic')),
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (service, node)
);

-- Keys of a deployment. Only the SHA-256 of the secret is stored; `prefix` is the secret's
-- first characters, for display. A rotated key keeps working until `expires_at`; a revoked
-- key stops at once. Rows are never deleted.
CREATE TABLE api_keys (
    service     TEXT NOT NULL REFERENCES services(name),
    node        TEXT NOT NULL,
    id          BIGINT NOT NULL,
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT,
    PRIMARY KEY (service, node, id)
);
