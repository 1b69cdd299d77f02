-- MLflow alias triggers (scenario spec `mlflow_alias`).
--
-- What a polled trigger last saw: the version an MLflow alias named at the last poll (NULL
-- for cron triggers, and before an alias trigger's first poll).
ALTER TABLE scenario_triggers ADD COLUMN last_value TEXT;

-- Runs started by an alias move: trigger_kind 'mlflow_alias'. SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt with the same rows.
CREATE TABLE scenario_runs_new (
    scenario        TEXT NOT NULL,
    node            TEXT NOT NULL,
    id              INTEGER NOT NULL,
    trigger_kind    TEXT NOT NULL CHECK (trigger_kind IN ('manual', 'cron', 'missed', 'mlflow_alias')),
    trigger_detail  TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN
                        ('running', 'succeeded', 'failed', 'stopped', 'cancelled', 'abandoned', 'skipped')),
    message         TEXT NOT NULL DEFAULT '',
    steps_json      TEXT NOT NULL,
    variables_json  TEXT NOT NULL,
    log             TEXT NOT NULL DEFAULT '',
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    instance        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (scenario, node, id)
);
INSERT INTO scenario_runs_new
    (scenario, node, id, trigger_kind, trigger_detail, status, message, steps_json, variables_json, log,
     started_at, ended_at, instance)
SELECT scenario, node, id, trigger_kind, trigger_detail, status, message, steps_json, variables_json, log,
       started_at, ended_at, instance
FROM scenario_runs;
DROP TABLE scenario_runs;
ALTER TABLE scenario_runs_new RENAME TO scenario_runs;
CREATE INDEX scenario_runs_by_status ON scenario_runs (node, status);
