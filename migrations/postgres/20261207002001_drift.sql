-- Drift: a version's reference distributions (per-feature quantile bins and counts, the
-- prediction distribution on the reference rows), from a CSV given with the version.
-- Baselines taken from traffic live in memory only.
CREATE TABLE version_references (
    service          TEXT NOT NULL,
    version          TEXT NOT NULL,
    source           TEXT NOT NULL CHECK (source IN ('upload', 'traffic')),
    row_count        BIGINT NOT NULL,
    reference_json   TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (service, version),
    FOREIGN KEY (service, version) REFERENCES versions (service, id)
);
