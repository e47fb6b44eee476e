#!/usr/bin/env bash
# Revocation propagation between two replicas (prints figures; issue 15,
# docs/postgres.md): a throwaway PostgreSQL cluster (scripts/pg-throwaway.sh),
# two `patrol serve` processes on it with the same config and server key, the
# reference OIDC provider; BENCH_REVOKES times (default 500): create a PAT on
# A, verify it twice on A (cached), revoke it on B, and time from B's answer
# to A's first refusal (A polls; its cache TTL is 300 s, so only the
# replicas' notice can refuse it). Prints p50 / p99 / max.
# It is tests/e2e/test_replicas.py's revocation test, run alone with more
# revocations: scripts/install-test-deps.sh must have run once.
# Usage: bench/replicas.sh    Env: CARGO_TARGET_DIR, BENCH_REVOKES,
# BENCH_PROFILE (debug | release; default release), PATROL_BIN (a built
# binary to use instead of building one)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
profile=${BENCH_PROFILE:-release}
if [[ -n ${PATROL_BIN:-} ]]; then
    profile="binary $PATROL_BIN"
elif [[ $profile == release ]]; then
    cargo build --release -q -p patrol
    PATROL_BIN="$CARGO_TARGET_DIR/release/patrol"
    profile="release build"
else
    cargo build -q -p patrol
    PATROL_BIN="$CARGO_TARGET_DIR/debug/patrol"
    profile="debug build"
fi
if [[ ! -x .e2e/venv/bin/pytest ]]; then
    echo "no .e2e/venv: run scripts/install-test-deps.sh first" >&2
    exit 1
fi
echo "two replicas ($profile), one PostgreSQL; ${BENCH_REVOKES:-500} revocations…" >&2
PATROL_BIN="$PATROL_BIN" PATROL_BENCH_REVOKES=${BENCH_REVOKES:-500} \
  .e2e/venv/bin/pytest -q -s tests/e2e/test_replicas.py -k revoke_on_b 2>&1 |
  grep -E '^revocation propagation' || {
    echo "the run failed: see the pytest output (rerun without the filter)" >&2
    exit 1
  }
echo "(target: p99 <= 50 ms)"
