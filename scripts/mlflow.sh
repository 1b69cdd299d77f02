#!/usr/bin/env bash
# MLflow tracking servers on loopback for the MLflow tests (tests/it/mlflow.rs):
#   scripts/mlflow.sh        start them unless they are running (then reuse them); prints
#                            "started" when it started one, nothing else
#   scripts/mlflow.sh stop   stop the servers this script started
# Two servers, each with a SQLite backend store and a local artifact destination served
# through the server's artifact proxy (mlflow-artifacts:), under ~/.cache/switchyard/mlflow,
# emptied at each start:
#   - open, on port 5056 (SWITCHYARD_TEST_MLFLOW): most tests log models into it;
#   - with MLflow's basic-auth app, on port 5057 (SWITCHYARD_TEST_MLFLOW_AUTH): its admin is
#     `admin` with the password $SWITCHYARD_TEST_MLFLOW_AUTH_PASSWORD, for the tests of
#     credentials (right, wrong token, wrong password).
# The tests log models with SWITCHYARD_TEST_MLFLOW_PYTHON running tests/mlflow/models.py.
set -euo pipefail
ENV="${SWITCHYARD_MLFLOW_ENV:-$HOME/.cache/switchyard/mlflowenv}"
STATE="${SWITCHYARD_MLFLOW_DIR:-$HOME/.cache/switchyard/mlflow}"
PORT="${SWITCHYARD_MLFLOW_PORT:-5056}"
AUTH_PORT="${SWITCHYARD_MLFLOW_AUTH_PORT:-5057}"
AUTH_PASSWORD="${SWITCHYARD_TEST_MLFLOW_AUTH_PASSWORD:-switchyard-test-admin}"

running() { [ -f "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

stop() {
  local dir="$1"
  if running "$dir"; then
    local pid
    pid="$(cat "$dir/pid")"
    # The server runs in its own process group (setsid): its workers go with it.
    kill -- "-$pid" 2>/dev/null || kill "$pid"
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
}

if [ "${1:-start}" = stop ]; then
  stop "$STATE/open"
  stop "$STATE/auth"
  exit 0
fi

[ -x "$ENV/bin/mlflow" ] || { echo "mlflow.sh: no mlflow at $ENV/bin/mlflow (run scripts/install-deps.sh)" >&2; exit 1; }

# start DIR PORT [server args...]: starts a server unless one runs from DIR; says whether.
started=""
start() {
  local dir="$1" port="$2"
  shift 2
  running "$dir" && return 0
  rm -rf "$dir"
  mkdir -p "$dir/artifacts"
  setsid "$ENV/bin/mlflow" server --host 127.0.0.1 --port "$port" --workers 1 \
    --backend-store-uri "sqlite:///$dir/mlflow.db" --artifacts-destination "$dir/artifacts" "$@" \
    >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  started=1
}

# ready DIR URL CURL-ARGS...: waits up to 120 s (a first start creates its databases) for the
# REST API to answer.
ready() {
  local dir="$1" url="$2"
  shift 2
  for _ in $(seq 600); do
    curl -sf -o /dev/null "$@" "$url/api/2.0/mlflow/registered-models/search" && return 0
    running "$dir" || break
    sleep 0.2
  done
  echo "mlflow.sh: the MLflow server on $url did not come up; its log:" >&2
  tail -20 "$dir/log" >&2 || true
  exit 1
}

start "$STATE/open" "$PORT"
if ! running "$STATE/auth"; then
  mkdir -p "$STATE"
  # MLflow's auth app reads its user database and first admin from this file.
  cat >"$STATE/basic_auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = sqlite:///$STATE/auth/basic_auth.db
admin_username = admin
admin_password = $AUTH_PASSWORD
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
  MLFLOW_AUTH_CONFIG_PATH="$STATE/basic_auth.ini" MLFLOW_FLASK_SERVER_SECRET_KEY="switchyard-tests" \
    start "$STATE/auth" "$AUTH_PORT" --app-name basic-auth
fi
ready "$STATE/open" "http://127.0.0.1:$PORT"
ready "$STATE/auth" "http://127.0.0.1:$AUTH_PORT" -u "admin:$AUTH_PASSWORD"
[ -n "$started" ] && echo started
exit 0
