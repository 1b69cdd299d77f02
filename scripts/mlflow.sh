#!/usr/bin/env bash
# An MLflow tracking server on loopback for the MLflow tests (tests/it/mlflow.rs):
#   scripts/mlflow.sh        start it unless it is running (then reuse it); prints "started"
#                            when it started one, nothing else
#   scripts/mlflow.sh stop   stop the server this script started
# A SQLite backend store and a local artifact destination, served through the server's
# artifact proxy (mlflow-artifacts:), all under ~/.cache/switchyard/mlflow, emptied at each
# start. The tests find it through SWITCHYARD_TEST_MLFLOW (scripts/test.sh exports it) and log
# models into it with SWITCHYARD_TEST_MLFLOW_PYTHON running tests/mlflow/models.py.
set -euo pipefail
ENV="${SWITCHYARD_MLFLOW_ENV:-$HOME/.cache/switchyard/mlflowenv}"
STATE="${SWITCHYARD_MLFLOW_DIR:-$HOME/.cache/switchyard/mlflow}"
PORT="${SWITCHYARD_MLFLOW_PORT:-5056}"
URL="http://127.0.0.1:$PORT"

running() { [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; }

if [ "${1:-start}" = stop ]; then
  if running; then
    pid="$(cat "$STATE/pid")"
    # The server runs in its own process group (setsid): its workers go with it.
    kill -- "-$pid" 2>/dev/null || kill "$pid"
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/pid"
  exit 0
fi

[ -x "$ENV/bin/mlflow" ] || { echo "mlflow.sh: no mlflow at $ENV/bin/mlflow (run scripts/install-deps.sh)" >&2; exit 1; }
started=""
if ! running; then
  rm -rf "$STATE"
  mkdir -p "$STATE/artifacts"
  setsid "$ENV/bin/mlflow" server --host 127.0.0.1 --port "$PORT" --workers 1 \
    --backend-store-uri "sqlite:///$STATE/mlflow.db" --artifacts-destination "$STATE/artifacts" \
    >"$STATE/log" 2>&1 </dev/null &
  echo $! >"$STATE/pid"
  started=1
fi
# Ready when the REST API answers: up to 120 s (the first start creates its database).
for _ in $(seq 600); do
  if curl -sf -o /dev/null "$URL/api/2.0/mlflow/registered-models/search"; then
    [ -n "$started" ] && echo started
    exit 0
  fi
  running || break
  sleep 0.2
done
echo "mlflow.sh: the MLflow server on $URL did not come up; its log:" >&2
tail -20 "$STATE/log" >&2 || true
exit 1
