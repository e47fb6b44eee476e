#!/usr/bin/env bash
# Creates per second over HTTP, as the issue measured them: wrk, 16
# connections, one user creating PATs (`max_active_per_user` raised), against
# `patrol dev` (release build) on SQLite and on PostgreSQL (a throwaway
# cluster, scripts/pg-throwaway.sh). Prints figures; not a timed test.
# The client is wrk (C), so nearly all of the two cores go to the server;
# bench/pats.sh measures the same from an in-process Rust client, with
# 1,000,000 PATs stored.
# With BENCH_TOKENS=n, n PATs are stored first (straight into the database,
# in one statement: seconds, not the hours creating them over HTTP would
# take), BENCH_USER_TOKENS of them (default 10,000) the benchmark user's, the
# rest spread over 1,000 other users: creates at the issue's size.
# Usage: bench/creates.sh [seconds per run, default 10]
# Env: CARGO_TARGET_DIR, BENCH_STORES ("sqlite postgres"), WRK_CONNECTIONS (16),
#      WRK_THREADS (1), ROUNDS (2), BENCH_TOKENS (0), BENCH_USER_TOKENS (10000)
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

# seed STORE TOTAL USER_TOKENS: TOTAL PATs, USER_TOKENS of them alice's.
seed() {
  local now ids owner hash sql
  now=$(( $(date +%s) * 1000000 ))
  if [ "$1" = sqlite ]; then
    ids="printf('00000000-0000-4000-%s-%012d', '9000', i % 1000)"
    owner="CASE WHEN i <= $3 THEN (SELECT id FROM users WHERE display_name = 'Alice Example') ELSE $ids END"
    hash="CAST(printf('%032d', i) AS BLOB)"
    sql="WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
      INSERT INTO users (id, issuer, subject, display_name, created_at_us, last_sign_in_us)
      SELECT $ids, 'seed', 'seed-' || i, 'Seed ' || i, $now, $now FROM n;
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
      INSERT INTO pats (authorization_id, owner_id, display_name, scopes, target_orgs,
        valid_from_us, valid_to_us, created_at_us, key_id, token_hash)
      SELECT printf('00000000-0000-4000-8000-%012d', i), $owner, 'seed ' || i, 'vso.code', NULL,
        $now, $now + (1 + i % 365) * 86400000000, $now, 'seed', $hash FROM n;
      ANALYZE;"
    sqlite3 "$DATA/patrol.db" <<<".timeout 10000
$sql"
  else
    ids="'00000000-0000-4000-9000-' || lpad((i % 1000)::text, 12, '0')"
    owner="CASE WHEN i <= $3 THEN (SELECT id FROM users WHERE display_name = 'Alice Example') ELSE $ids END"
    hash="convert_to(lpad(i::text, 32, '0'), 'UTF8')"
    sql="INSERT INTO users (id, issuer, subject, display_name, created_at_us, last_sign_in_us)
      SELECT $ids, 'seed', 'seed-' || i, 'Seed ' || i, $now, $now FROM generate_series(0, 999) i;
      INSERT INTO pats (authorization_id, owner_id, display_name, scopes, target_orgs,
        valid_from_us, valid_to_us, created_at_us, key_id, token_hash)
      SELECT '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), $owner, 'seed ' || i,
        'vso.code', NULL, $now, $now + (1 + i % 365)::bigint * 86400000000, $now, 'seed', $hash
      FROM generate_series(1, $2) i;
      ANALYZE;"
    psql -q -v ON_ERROR_STOP=1 "$PATROL_DATABASE_URL" <<<"$sql" >/dev/null
  fi
}

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
  if [ "${BENCH_TOKENS:-0}" -gt 0 ]; then
    started=$(date +%s)
    seed "$store" "$BENCH_TOKENS" "${BENCH_USER_TOKENS:-10000}"
    echo "store=$store seeded ${BENCH_TOKENS} PATs in $(( $(date +%s) - started )) s"
  fi
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
