#!/usr/bin/env bash
# Runs every test Patrol has, on a fresh machine or a warm one:
#   1. installs what the tests need (idempotent: nginx, fcgiwrap, git, a Python
#      venv with the azure-devops SDK, the npm oidc-provider, nightly Rust and cargo-fuzz),
#   2. checks formatting and lints,
#   3. builds the workspace once (one shared target dir),
#   4. runs the Rust unit, property, store and integration tests (the store
#      tests on SQLite and on one throwaway PostgreSQL cluster, started here
#      and stopped when this script ends, however it ends),
#   5. runs the fuzz targets over patrol-core for a few seconds each (docs/fuzzing.md),
#   6. runs the end-to-end tests against the real binary and real outside parts.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_INCREMENTAL=0
# Each step says when it starts (seconds since the start), so slow steps show.
step() { printf '\n==> [%ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }
start=$(date +%s)

step "installing test dependencies"
bash scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "secrets are compared in constant time (docs/security.md item 3)"
scripts/check-secret-compare.sh

step "building"
cargo build --workspace --all-targets --quiet

step "throwaway PostgreSQL cluster for the tests (scripts/pg-throwaway.sh)"
pg_dir="${TMPDIR:-/tmp}/patrol-test-pg-$$"
trap 'scripts/pg-throwaway.sh stop "$pg_dir"' EXIT
PATROL_TEST_POSTGRES_URL=$(scripts/pg-throwaway.sh start "$pg_dir" --watch $$)
export PATROL_TEST_POSTGRES_URL
echo "PostgreSQL at $PATROL_TEST_POSTGRES_URL"

step "Rust tests (unit, property, store on SQLite and PostgreSQL, integration)"
cargo test --workspace --quiet

step "the server's integration tests again, on PostgreSQL (PATROL_TEST_STORE=postgres)"
PATROL_TEST_STORE=postgres cargo test --quiet -p patrol-server --test api

step "fuzz smoke run (each cargo-fuzz target ${PATROL_FUZZ_SECONDS:-8} s; docs/fuzzing.md)"
scripts/fuzz.sh smoke "${PATROL_FUZZ_SECONDS:-8}"

step "end-to-end tests (real binary, oidc-provider, azure-devops SDK, nginx + git)"
export PATROL_BIN="$CARGO_TARGET_DIR/debug/patrol"
# Here the browser tests must run: a missing browser fails them instead of skipping.
export PATROL_REQUIRE_BROWSER=1
.e2e/venv/bin/pytest -q tests/e2e

printf '\nall tests passed in %ss\n' "$(( $(date +%s) - start ))"
