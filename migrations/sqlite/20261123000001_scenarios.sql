-- Scenarios: specs, their runs, and the cron triggers' fire bookkeeping.

-- One row per scenario; `spec_json` is the validated spec as saved.
CREATE TABLE scenarios (
    name        TEXT PRIMARY KEY NOT NULL,
    spec_json   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- A run of a scenario on a node. Runs outlive their scenario (history is kept when a
-- scenario is deleted). `steps_json` holds each step's status, times, message and outputs;
-- `variables_json` the variables the run produced; `log` the commands' output and the
-- executor's own lines. A run left `running` by a process that died is marked `abandoned`
-- when the node starts again.
CREATE TABLE scenario_runs (
    scenario        TEXT NOT NULL,
    node            TEXT NOT NULL,
    id              INTEGER NOT NULL,
    trigger_kind    TEXT NOT NULL CHECK (trigger_kind IN ('manual', 'cron', 'missed')),
    trigger_detail  TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN
                        ('running', 'succeeded', 'failed', 'stopped', 'cancelled', 'abandoned', 'skipped')),
    message         TEXT NOT NULL DEFAULT '',
    steps_json      TEXT NOT NULL,
    variables_json  TEXT NOT NULL,
    log             TEXT NOT NULL DEFAULT '',
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    PRIMARY KEY (scenario, node, id)
);
CREATE INDEX scenario_runs_by_status ON scenario_runs (node, status);

-- Up to when each cron trigger's fire times have been handled (fired, or recorded as
-- skipped). Fire times after it and before now were missed while the node was down.
CREATE TABLE scenario_triggers (
    scenario         TEXT NOT NULL,
    node             TEXT NOT NULL,
    trigger_key      TEXT NOT NULL,
    last_checked_at  INTEGER NOT NULL,
    PRIMARY KEY (scenario, node, trigger_key)
);
