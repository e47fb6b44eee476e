#!/usr/bin/env bash
# Patrol's cargo-fuzz targets (fuzz/; docs/fuzzing.md). Needs the nightly toolchain and
# cargo-fuzz; scripts/install-test-deps.sh installs both.
#
#   scripts/fuzz.sh smoke [SECONDS]   build, then run every target SECONDS (default 8) from its
#                                     committed corpus; fails on the first crash
#   scripts/fuzz.sh run TARGET [SECONDS] [-- LIBFUZZER-FLAGS...]
#                                     one target (default 600 s); what it finds goes to
#                                     fuzz/corpus-new/TARGET, never into the committed corpus;
#                                     libFuzzer's log is fuzz/corpus-new/TARGET.log
#   scripts/fuzz.sh cmin TARGET       minimise fuzz/corpus/TARGET + fuzz/corpus-new/TARGET
#                                     into fuzz/corpus/TARGET
#   scripts/fuzz.sh build | list
#
# Crashing inputs land in fuzz/artifacts/TARGET/. Builds go to $CARGO_TARGET_DIR/fuzz
# (default target/fuzz), apart from the main workspace's artifacts. Builds use AddressSanitizer;
# PATROL_FUZZ_SANITIZER=none builds without it (faster; panics, overflow checks and debug
# assertions still fail a run) into $CARGO_TARGET_DIR/fuzz-none.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sanitizer="${PATROL_FUZZ_SANITIZER:-address}"
target_dir="${CARGO_TARGET_DIR:-$root/target}/fuzz"
[ "$sanitizer" = address ] || target_dir="$target_dir-$sanitizer"
toolchain="${PATROL_FUZZ_TOOLCHAIN:-nightly}"
fuzz() { cargo "+$toolchain" fuzz "$@"; }
# Same build flags for every subcommand, so `run` and `cmin` reuse what `build` made.
build_flags=(--target-dir "$target_dir" --sanitizer "$sanitizer")

targets() { fuzz list; }

# run_target TARGET SECONDS WORK_DIR LOG [FLAGS...]: fuzz TARGET from WORK_DIR (new inputs) and
# its committed corpus, logging to LOG; prints one summary line; returns libFuzzer's status, with
# the end of its log on failure.
run_target() {
  local t="$1" secs="$2" work="$3" log="$4" status started
  shift 4
  mkdir -p "$work" "fuzz/corpus/$t" "fuzz/artifacts/$t"
  started=$(date +%s)
  set +e
  fuzz run "${build_flags[@]}" "$t" "$work" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 "$@" \
    >"$log" 2>&1
  status=$?
  set -e
  if [ "$status" -ne 0 ]; then
    tail -n 80 "$log" >&2
    printf '%-14s FAILED (exit %s); the input is in fuzz/artifacts/%s/\n' "$t" "$status" "$t" >&2
  else
    local runs rate secs_run cov
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    secs_run="$(sed -n -E 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -n 1)"
    cov="$(sed -n -E 's/^#[0-9]+[[:space:]]+DONE[[:space:]]+(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/p' \
      "$log" | tail -n 1)"
    printf '%-14s %12s runs %8s exec/s %6ss fuzzing %6ss in all  %s\n' "$t" "${runs:-?}" \
      "${rate:-?}" "${secs_run:-?}" "$(( $(date +%s) - started ))" "$cov"
  fi
  return "$status"
}

cmd="${1:-smoke}"
shift || true
case "$cmd" in
  list) targets ;;
  build) fuzz build "${build_flags[@]}" ;;
  smoke)
    secs="${1:-8}"
    fuzz build "${build_flags[@]}"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    for t in $(targets); do
      run_target "$t" "$secs" "$work/$t" "$work/$t.log"
    done
    ;;
  run)
    t="${1:?usage: scripts/fuzz.sh run TARGET [SECONDS] [-- LIBFUZZER-FLAGS...]}"
    shift
    secs=600
    if [ $# -gt 0 ] && [ "$1" != "--" ]; then secs="$1"; shift; fi
    [ "${1:-}" = "--" ] && shift
    run_target "$t" "$secs" "fuzz/corpus-new/$t" "fuzz/corpus-new/$t.log" "$@"
    ;;
  cmin)
    # Minimise with cargo fuzz cmin, but keep the named real examples (seed files whose name is
    # not a 40-hex digest) under their names; cmin names what it keeps by digest.
    t="${1:?usage: scripts/fuzz.sh cmin TARGET}"
    corpus="fuzz/corpus/$t"
    mkdir -p "$corpus" "fuzz/corpus-new/$t"
    keep="$(mktemp -d)"
    trap 'rm -rf "$keep"' EXIT
    find "$corpus" -maxdepth 1 -type f ! -regex '.*/[0-9a-f]\{40\}' -exec cp -t "$keep" {} +
    find "fuzz/corpus-new/$t" -maxdepth 1 -type f -exec cp -n -t "$corpus" {} +
    before="$(find "$corpus" -type f | wc -l)"
    fuzz cmin "${build_flags[@]}" "$t" "$corpus"
    for f in "$keep"/*; do
      [ -e "$f" ] || continue
      rm -f "$corpus/$(sha1sum "$f" | cut -c1-40)"
      cp "$f" "$corpus/"
    done
    echo "$t: $before inputs -> $(find "$corpus" -type f | wc -l) ($(du -sh "$corpus" | cut -f1))"
    ;;
  *)
    sed -n '2,19p' "$0" >&2
    exit 2
    ;;
esac
