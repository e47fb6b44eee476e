#!/usr/bin/env bash
# Web page figures on this machine (prints them; not a timed test):
#   1. a whole browser sign-in (GET /tokens → dev issuer page → POST → callback:
#      code exchange, ID- and access-token checks, session) — median of N, in ms;
#   2. requests/s and p99 for the signed-in token list (20 tokens) and the
#      new-token form, beside /healthz of the same server under the same load.
# Usage: bench/web.sh [seconds per wrk run, default 10]
# Env: CARGO_TARGET_DIR, WRK_CONNECTIONS (32), WRK_THREADS (2), SIGNINS (50)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${1:-10}
CONNS=${WRK_CONNECTIONS:-32}
THREADS=${WRK_THREADS:-2}
PY=${PYTHON:-$ROOT/.e2e/venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c 'import requests' 2>/dev/null || { echo "needs python requests (scripts/install-test-deps.sh)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (Debian package wrk)" >&2; exit 1; }

(cd "$ROOT" && cargo build --release -q -p patrol)
BIN=$TARGET/release/patrol

DATA=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT

RUST_LOG=warn "$BIN" dev --port 0 --data-dir "$DATA" >/dev/null 2>"$DATA/stderr.log" &
PID=$!
for _ in $(seq 200); do [ -s "$DATA/dev-server.json" ] && break; sleep 0.05; done
BASE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_url"])' "$DATA/dev-server.json")
JWT=$("$BIN" dev token --user alice --data-dir "$DATA")
for i in $(seq 20); do
  curl -sf -o /dev/null -X POST "$BASE/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1" \
    -H "Authorization: Bearer $JWT" -H 'Content-Type: application/json' \
    -d "{\"displayName\":\"bench $i\",\"scope\":\"vso.code vso.packaging\",\"allOrgs\":false}"
done

COOKIE=$("$PY" - "$BASE" "${SIGNINS:-50}" <<'PYEOF'
import html, re, statistics, sys, time
import requests
base, n = sys.argv[1], int(sys.argv[2])
def sign_in():
    s = requests.Session()
    page = s.get(base + "/tokens")
    fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
    fields["username"] = "alice"
    r = s.post(base + "/oidc/authorize", data=fields, headers={"Origin": base})
    assert r.ok and r.url.endswith("/tokens") and "data-token-id" in r.text, r.status_code
    return s.cookies.get("patrol_session")
sign_in()
times = []
for _ in range(n):
    t = time.perf_counter(); cookie = sign_in(); times.append((time.perf_counter() - t) * 1000)
print(f"browser sign-in (5 requests, incl. the list page): median {statistics.median(times):.1f} ms, "
      f"p90 {sorted(times)[int(n * 0.9) - 1]:.1f} ms over {n}", file=sys.stderr)
print(cookie)
PYEOF
)

run() { # label, wrk args…
  local label=$1; shift
  local out; out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@")
  printf '%-34s %10s req/s   latency avg %-9s p99 %-9s non-2xx %s\n' "$label" \
    "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")" "$(awk '/^    Latency/ {print $2; exit}' <<<"$out")" \
    "$(awk '/^ +99%/ {print $2}' <<<"$out")" "$(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)" >&2
}
echo "wrk: $THREADS threads, $CONNS connections, ${DURATION}s per run, against $BASE (patrol dev, release)" >&2
run "GET /healthz" "$BASE/healthz"
run "GET /tokens (20 tokens, signed in)" -H "Cookie: patrol_session=$COOKIE" "$BASE/tokens"
run "GET /tokens/new (scope picker)" -H "Cookie: patrol_session=$COOKIE" "$BASE/tokens/new"
