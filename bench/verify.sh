#!/usr/bin/env bash
# Verify-path figures on this machine (prints them; not a timed test):
#   1. forward-auth requests/s with a valid PAT vs. a trivial handler
#      (/healthz) of the same server under the same wrk load, as a ratio;
#   2. in-process verify latency, cache hit and cache miss, with
#      BENCH_TOKENS (default 1,000,000) PATs stored.
# Usage: bench/verify.sh [seconds per wrk run, default 10]
# Env: CARGO_TARGET_DIR, BENCH_TOKENS, WRK_CONNECTIONS (32), WRK_THREADS (2), ROUNDS (3),
#      SKIP_INPROCESS=1 (only the wrk part)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${1:-10}
CONNS=${WRK_CONNECTIONS:-32}
THREADS=${WRK_THREADS:-2}

# shellcheck source=bench/wrk.sh
. "$ROOT/bench/wrk.sh"

(cd "$ROOT" && cargo build --release -q -p patrol)
BIN=$TARGET/release/patrol

DATA=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT

RUST_LOG=warn "$BIN" dev --port 0 --data-dir "$DATA" >/dev/null 2>"$DATA/stderr.log" &
PID=$!
for _ in $(seq 200); do [ -s "$DATA/dev-server.json" ] && break; sleep 0.05; done
BASE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_url"])' "$DATA/dev-server.json")
JWT=$("$BIN" dev token --user alice --data-dir "$DATA")
PAT=$(curl -sf -X POST "$BASE/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1" \
  -H "Authorization: Bearer $JWT" -H 'Content-Type: application/json' \
  -d '{"displayName":"bench","scope":"vso.code","allOrgs":false}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["patToken"]["token"])')
AUTH="Basic $(printf 'git:%s' "$PAT" | base64 -w0)"
VERIFY_URL="$BASE/patrol/v1/verify?scope=vso.code&org=fabrikam"
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $AUTH" "$VERIFY_URL")" = 200

run() { # label, wrk args…
  local label=$1; shift
  local out; out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@")
  local rps; rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  local lat; lat=$(awk '/^    Latency/ {print $2; exit}' <<<"$out")
  local p99; p99=$(awk '/^ +99%/ {print $2}' <<<"$out")
  local non2xx; non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-28s %10s req/s   latency avg %-9s p99 %-9s non-2xx %s\n' "$label" "$rps" "$lat" "$p99" "${non2xx:-0}" >&2
  echo "$rps"
}

ROUNDS=${ROUNDS:-3}
echo "wrk: $THREADS threads, $CONNS connections, ${DURATION}s per run, $ROUNDS rounds, against $BASE (patrol dev, release)" >&2
curl -s -o /dev/null -H "Authorization: $AUTH" "$VERIFY_URL"   # warm the cache
RATIOS=()
for _ in $(seq "$ROUNDS"); do
  TRIVIAL=$(run "trivial handler (/healthz)" "$BASE/healthz")
  FORWARD=$(run "forward-auth (valid PAT)" -H "Authorization: $AUTH" "$VERIFY_URL")
  RATIOS+=("$(python3 -c "import sys; t,f=map(float,sys.argv[1:]); print(f'{f/t:.3f}')" "$TRIVIAL" "$FORWARD")")
done
python3 -c "import sys,statistics; r=sorted(map(float,sys.argv[1:])); print(f'forward-auth / trivial ratio: median {statistics.median(r):.2f} (runs: {\", \".join(f\"{x:.2f}\" for x in r)}; target >= 0.8)')" "${RATIOS[@]}"

if [ "${SKIP_INPROCESS:-0}" != 1 ]; then
  echo "in-process verify latency with ${BENCH_TOKENS:-1000000} PATs stored (release build of the api test binary)…" >&2
  (cd "$ROOT" && BENCH_TOKENS=${BENCH_TOKENS:-1000000} cargo test --release -q -p patrol-server --test api \
    bench::verify_latency -- --ignored --nocapture 2>&1) | grep -E '^(BENCH|stored)' | sed 's/^BENCH //'
  echo "(target: cache hit <= 1 us)"
fi
