-- People, roles and audit (see src/auth/people.rs, src/approval/, src/audit/).
-- Timestamps are Unix milliseconds (UTC).

-- A principal: a named person or system using the admin API. Removed principals keep their
-- row (`removed_at`), so a name is never reused and the audit's names stay unambiguous.
CREATE TABLE principals (
    name        TEXT PRIMARY KEY NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    removed_at  INTEGER
);

-- What a principal may do: a role, on every service ('*') or on services matching a glob.
CREATE TABLE principal_grants (
    principal   TEXT NOT NULL REFERENCES principals(name),
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'operator', 'admin')),
    scope       TEXT NOT NULL,
    PRIMARY KEY (principal, role, scope)
);

-- A principal's tokens. Only the SHA-256 of the secret is stored; `prefix` is its first
-- characters, for display. Rows are never deleted.
CREATE TABLE principal_tokens (
    id          INTEGER PRIMARY KEY NOT NULL,
    principal   TEXT NOT NULL REFERENCES principals(name),
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);

-- A service whose deploys and canary starts need an approved approval request.
CREATE TABLE protected_services (
    service     TEXT NOT NULL REFERENCES services(name),
    node        TEXT NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_at  INTEGER NOT NULL,
    PRIMARY KEY (service, node)
);

-- A proposed deploy or canary on a protected service: the exact config (or plan), who asked
-- and why, and another principal's decision. Pending until decided or `expires_at`.
CREATE TABLE approval_requests (
    id            INTEGER PRIMARY KEY NOT NULL,
    service       TEXT NOT NULL REFERENCES services(name),
    node          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('deploy', 'canary')),
    payload_json  TEXT NOT NULL,
    base_json     TEXT,
    reason        TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    requested_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by    TEXT,
    decided_at    INTEGER,
    note          TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL DEFAULT ''
);

-- The append-only, hash-chained log of every state-changing admin call, refusals included.
-- `digest` = SHA-256(prev_digest || canonical fields of the row); an edited, deleted or
-- reordered row breaks the chain (`switchyard audit verify`).
CREATE TABLE audit (
    seq            INTEGER PRIMARY KEY NOT NULL,
    at             INTEGER NOT NULL,
    principal      TEXT NOT NULL,
    source         TEXT NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT NOT NULL,
    service        TEXT,
    before_digest  TEXT NOT NULL,
    after_digest   TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    status         INTEGER NOT NULL,
    detail         TEXT NOT NULL,
    prev_digest    TEXT NOT NULL,
    digest         TEXT NOT NULL
);
CREATE INDEX audit_service_at ON audit (service, at);
