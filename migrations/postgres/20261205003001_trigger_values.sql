-- MLflow alias triggers (scenario spec `mlflow_alias`).
--
-- What a polled trigger last saw: the version an MLflow alias named at the last poll (NULL
-- for cron triggers, and before an alias trigger's first poll).
ALTER TABLE scenario_triggers ADD COLUMN last_value TEXT;

-- Runs started by an alias move: trigger_kind 'mlflow_alias'.
ALTER TABLE scenario_runs DROP CONSTRAINT scenario_runs_trigger_kind_check;
ALTER TABLE scenario_runs ADD CONSTRAINT scenario_runs_trigger_kind_check
    CHECK (trigger_kind IN ('manual', 'cron', 'missed', 'mlflow_alias'));
