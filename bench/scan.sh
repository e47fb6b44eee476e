#!/usr/bin/env bash
# `patrol scan` against ripgrep on the same generated corpus (prints figures;
# not a timed test). The corpus: text-like files in nested directories with
# planted valid tokens of every format and as many corrupted look-alikes
# (one character changed: same shape, wrong checksum), deterministic per seed
# (crates/patrol-scan/examples/corpus.rs). For `--only cask`, `--only legacy`
# and the default it prints both throughputs (best and median of ROUNDS,
# warm page cache, MB = 10^6 bytes), the ratio, and the hit counts: ripgrep
# counts regex matches (look-alikes included), Patrol only checksum-valid
# tokens, which must equal the number of valid tokens planted. ripgrep runs
# with --count-matches (its cheapest mode; Patrol prints path, line and
# column), and once more for 84-char keys printing line and column as well.
#
# Usage: bench/scan.sh [MiB, default 1024]
# Env: CARGO_TARGET_DIR, ROUNDS (5), SEED (14),
#      SCAN_CORPUS=dir (generate there once and keep it; default: a temp dir, deleted)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
MIB=${1:-1024}
ROUNDS=${ROUNDS:-5}
SEED=${SEED:-14}

if ! command -v rg >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y ripgrep >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y ripgrep >/dev/null; }
  else
    echo "ripgrep is not installed (Debian package ripgrep)" >&2; exit 1
  fi
fi

(cd "$ROOT" && cargo build --release -q -p patrol && cargo build --release -q -p patrol-scan --example corpus)
BIN=$TARGET/release/patrol

if [ -n "${SCAN_CORPUS:-}" ]; then
  CORPUS=$SCAN_CORPUS
  OUT=$(mktemp -d)
  trap 'rm -rf "$OUT"' EXIT
else
  CORPUS=$(mktemp -d)
  OUT=$(mktemp -d)
  trap 'rm -rf "$CORPUS" "$OUT"' EXIT
fi
STAMP="$CORPUS/.corpus-$MIB-$SEED"
if [ ! -f "$STAMP" ]; then
  echo "generating a $MIB MiB corpus in $CORPUS (seed $SEED)…" >&2
  find "$CORPUS" -mindepth 1 -delete 2>/dev/null || true
  "$TARGET/release/examples/corpus" "$CORPUS" "$MIB" "$SEED" >"$OUT/counts"
  cp "$OUT/counts" "$STAMP"
fi
COUNTS=$(cat "$STAMP")
val() { sed -E "s/.*$1=([0-9]+).*/\1/" <<<"$COUNTS"; }
BYTES=$(val bytes)
VALID_CASK=$(val valid_cask)
VALID_LEGACY=$(val valid_legacy)
echo "corpus: $COUNTS" >&2
# Warm the page cache: both tools then read from memory.
find "$CORPUS" -type f -name '*.txt' -exec cat {} + >/dev/null

# The scanner's rules as regexes (docs/scan.md): whole words of each alphabet.
CASK='(?:^|[^A-Za-z0-9])[A-Za-z0-9]{52}JQQJ9[9DH][A-Za-z0-9][A-L][A-Za-z0-9]{16}[Aa][Zz][Dd][Oo][A-Za-z0-9]{4}(?:[A-Za-z0-9]{2}==|[^A-Za-z0-9]|$)'
LEGACY='(?:^|[^a-z2-7])[a-z2-7]{52}(?:[^a-z2-7]|$)'

now() { date +%s%N; }

# run_patrol ARGS… → prints "nanoseconds hits"
run_patrol() {
  local s e code=0
  s=$(now)
  "$BIN" scan "$@" "$CORPUS" >"$OUT/p.txt" 2>"$OUT/p.err" || code=$?
  e=$(now)
  if [ "$code" -gt 1 ]; then cat "$OUT/p.err" >&2; exit 1; fi
  echo "$((e - s)) $(wc -l <"$OUT/p.txt")"
}

# run_rg ARGS… → prints "nanoseconds matches" (with --count-matches: the
# sum of the per-file counts; otherwise one output line per match)
run_rg() {
  local s e
  s=$(now)
  rg --no-config "$@" "$CORPUS" >"$OUT/r.txt" || true
  e=$(now)
  if [ "$1" = --count-matches ]; then
    echo "$((e - s)) $(awk -F: '{n += $NF} END {print n + 0}' "$OUT/r.txt")"
  else
    echo "$((e - s)) $(wc -l <"$OUT/r.txt")"
  fi
}

# stats NS… → "best median" in seconds
stats() {
  printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {printf "%.3f %.3f", a[1] / 1e9, a[int((NR + 1) / 2)] / 1e9}'
}

mbps() { awk -v b="$BYTES" -v t="$1" 'BEGIN {printf "%.0f", b / t / 1e6}'; }

compare() { # label, expected valid hits, patrol args (before --), rg args (after --)
  local label=$1 expected=$2; shift 2
  local pargs=() rargs=()
  while [ "$1" != -- ]; do pargs+=("$1"); shift; done
  shift; rargs=("$@")
  local pt=() rt=() ph=0 rh=0 r out
  for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2)); then
      out=$(run_rg "${rargs[@]}"); rt+=("${out% *}"); rh=${out#* }
      out=$(run_patrol "${pargs[@]}"); pt+=("${out% *}"); ph=${out#* }
    else
      out=$(run_patrol "${pargs[@]}"); pt+=("${out% *}"); ph=${out#* }
      out=$(run_rg "${rargs[@]}"); rt+=("${out% *}"); rh=${out#* }
    fi
  done
  read -r pbest pmed <<<"$(stats "${pt[@]}")"
  read -r rbest rmed <<<"$(stats "${rt[@]}")"
  local fp="zero false positives"
  [ "$ph" = "$expected" ] || fp="MISMATCH: $ph reported, $expected valid planted"
  printf '%-22s patrol %6s MB/s (best %.3fs, median %.3fs) %5s hits | rg %6s MB/s (best %.3fs, median %.3fs) %5s matches | ratio %.2fx (median %.2fx) | %s\n' \
    "$label" "$(mbps "$pbest")" "$pbest" "$pmed" "$ph" "$(mbps "$rbest")" "$rbest" "$rmed" "$rh" \
    "$(awk -v a="$rbest" -v b="$pbest" 'BEGIN {print a / b}')" \
    "$(awk -v a="$rmed" -v b="$pmed" 'BEGIN {print a / b}')" "$fp"
}

echo "machine: $(nproc) CPUs; $(rg --version | head -1); load before: $(uptime | sed 's/.*load average: //')"
echo "corpus: $((BYTES / 1000000)) MB in $(val files) files; planted valid: $VALID_CASK cask, $VALID_LEGACY legacy; look-alikes: $(val corrupt_cask) cask, $(val corrupt_legacy) legacy; $ROUNDS rounds"
compare "--only cask" "$VALID_CASK" --only cask -- --count-matches "$CASK"
compare "--only legacy" "$VALID_LEGACY" --only legacy -- --count-matches "$LEGACY"
compare "default (both)" "$((VALID_CASK + VALID_LEGACY))" -- --count-matches -e "$CASK" -e "$LEGACY"
# ripgrep printing what patrol prints (path, line, column of each match):
# it then counts lines too.
compare "--only cask, rg -no" "$VALID_CASK" --only cask -- -o -n --column "$CASK"
echo "load after: $(uptime | sed 's/.*load average: //')"
