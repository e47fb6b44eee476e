#!/usr/bin/env bash
# What creating and listing PATs cost as the store grows (prints figures; not
# a timed test). Runs crates/patrol-server/tests/api/bench_pats.rs in release
# mode: BENCH_TOKENS PATs stored (default 1,000,000), BENCH_USER_TOKENS of them
# for one user (10,000); list page p50/p99 per sort for that user and for a
# user holding one token; verify cache misses (2,000 of that user's PATs,
# each once); creates per second from 16 concurrent clients (in-process
# reqwest; bench/creates.sh measures creates with wrk).
# Usage: bench/pats.sh        Env: CARGO_TARGET_DIR, BENCH_STORES ("sqlite postgres"),
# BENCH_TOKENS, BENCH_USER_TOKENS, BENCH_CREATES (4,000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# BENCH_STORES: which stores, in order (default: both). PostgreSQL is a
# throwaway cluster the run starts (scripts/pg-throwaway.sh) unless
# PATROL_TEST_POSTGRES_URL names one.
for store in ${BENCH_STORES:-sqlite postgres}; do
  echo "store: $store; ${BENCH_TOKENS:-1000000} PATs, ${BENCH_USER_TOKENS:-10000} for one user…" >&2
  BENCH_STORE=$store BENCH_TOKENS=${BENCH_TOKENS:-1000000} BENCH_USER_TOKENS=${BENCH_USER_TOKENS:-10000} \
    cargo test --release -q -p patrol-server --test api bench_pats::create_and_list_costs \
    -- --ignored --nocapture 2>&1 | grep -E '^(BENCH|stored)' | sed 's/^BENCH //'
done
echo "(targets: list page p50 <= 5 ms, create >= 2,000/s)"
