#!/usr/bin/env bash
# Creates per second over HTTP, as the issue measured them: wrk, 16
# connections, one user creating PATs (`max_active_per_user` raised), against
# `patrol dev` (release build) on SQLite and on PostgreSQL (a throwaway
# cluster, scripts/pg-throwaway.sh). Prints figures; not a timed test.
# The client is wrk (C), so nearly all of the two cores go to the server;
# bench/pats.sh measures the same from an in-process Rust client, with
# 1,000,000 PATs stored.
# Usage: bench/creates.sh [seconds per run, default 10]
# Env: CARGO_TARGET_DIR, BENCH_STORES ("sqlite postgres"), WRK_CONNECTIONS (16),
#      WRK_THREADS (1), ROUNDS (2)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${1:-10}
CONNS=${WRK_CONNECTIONS:-16}
THREADS=${WRK_THREADS:-1}

# shellcheck source=bench/wrk.sh
. "$ROOT/bench/wrk.sh"

(cd "$ROOT" && cargo build --release -q -p patrol)
BIN=$TARGET/release/patrol

WORK=$(mktemp -d)
chmod 755 "$WORK"  # the PostgreSQL cluster runs as the postgres user
PID=
PG=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  wait 2>/dev/null || true
  [ -n "$PG" ] && "$ROOT/scripts/pg-throwaway.sh" stop "$PG" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/create.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_JWT")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"displayName":"wrk ' .. n .. '","scope":"vso.code","allOrgs":false}')
end
LUA

for store in ${BENCH_STORES:-sqlite postgres}; do
  DATA=$WORK/$store
  mkdir -p "$DATA"
  unset PATROL_DATABASE_URL
  if [ "$store" = postgres ]; then
    PG=$WORK/pg
    PATROL_DATABASE_URL=$("$ROOT/scripts/pg-throwaway.sh" start "$PG")
    export PATROL_DATABASE_URL
  fi
  PATROL_TOKENS__MAX_ACTIVE_PER_USER=100000000 RUST_LOG=warn \
    "$BIN" dev --port 0 --data-dir "$DATA" >/dev/null 2>"$DATA/stderr.log" &
  PID=$!
  for _ in $(seq 400); do [ -s "$DATA/dev-server.json" ] && break; sleep 0.05; done
  BASE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_url"])' "$DATA/dev-server.json")
  BENCH_JWT=$("$BIN" dev token --user alice --data-dir "$DATA")
  export BENCH_JWT
  URL="$BASE/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1"
  # One create first: alice exists, and a create answers 200.
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL" -H "Authorization: Bearer $BENCH_JWT" \
    -H 'Content-Type: application/json' -d '{"displayName":"first","scope":"vso.code","allOrgs":false}')
  test "$code" = 200 || { echo "create answered $code" >&2; cat "$DATA/stderr.log" >&2; exit 1; }
  for round in $(seq "${ROUNDS:-2}"); do
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/create.lua" "$URL")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '/^ +50%/ {print $2}' <<<"$out")
    p99=$(awk '/^ +99%/ {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    echo "store=$store round=$round creates_per_s=$rps latency_p50=$p50 p99=$p99 non_2xx=${non2xx:-0}"
  done
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  if [ -n "$PG" ]; then "$ROOT/scripts/pg-throwaway.sh" stop "$PG" >/dev/null 2>&1; PG=; fi
done
echo "(target: creates >= 2,000/s)"
