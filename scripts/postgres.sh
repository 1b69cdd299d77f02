#!/usr/bin/env bash
# Starts Debian's PostgreSQL cluster on loopback (if it is not running) and makes sure the
# test role exists; prints "started" when it started the cluster, nothing else.
# `scripts/postgres.sh stop` stops the cluster (scripts/test.sh does, at exit, when it started
# it). The registry tests against PostgreSQL and the shared-registry test use it
# (scripts/test.sh exports SWITCHYARD_TEST_POSTGRES).
# Needs the `postgresql` package (scripts/install-deps.sh installs it) and root or sudo.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then SUDO=""; AS_PG="runuser -u postgres --"; else SUDO="sudo"; AS_PG="sudo -u postgres"; fi
version="$(ls /usr/lib/postgresql | sort -n | tail -1)"
if [ "${1:-start}" = stop ]; then
  $SUDO pg_ctlcluster "$version" main stop >&2
  exit 0
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q online; then
  $SUDO pg_ctlcluster "$version" main start >&2
  echo started
fi
$AS_PG psql -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'switchyard') THEN
    CREATE ROLE switchyard LOGIN PASSWORD 'switchyard' CREATEDB;
  END IF;
END $$;
SQL
# Databases left by earlier test runs (each test creates its own sy_test_* database).
for db in $($AS_PG psql -Atq -c "SELECT datname FROM pg_database WHERE datname LIKE 'sy\_test\_%'"); do
  $AS_PG psql -q -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null
done
