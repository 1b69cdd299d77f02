-- Remote API nodes the console manages (URL and admin token). The token is the user's own
-- secret, kept in their registry and sent only to that node.
CREATE TABLE infrastructures (
    name        TEXT PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL,
    token       TEXT,
    created_at  INTEGER NOT NULL
);
