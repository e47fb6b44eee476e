#!/usr/bin/env bash
# `patrol scan` against ripgrep on the same generated corpus (prints figures;
# not a timed test). The corpus: text-like files in nested directories with
# planted valid tokens of every format and as many corrupted look-alikes
# (one character changed: same shape, wrong checksum), deterministic per seed
# (crates/patrol-scan/examples/corpus.rs). For `--only cask`, `--only legacy`
# and the default it prints both throughputs (best and median of ROUNDS wall
# times, warm page cache, MB = 10^6 bytes), the median CPU time (user +
# system: steadier than wall time on a shared machine), the ratios, and the
# hit counts: ripgrep
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

# CPU time (user + system, ms) of the calling shell's finished children, as
# written by `times >"$OUT/times"` (which must run in that shell: its second
# line is the children's).
children_cpu_ms() {
  awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/);
                 printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 }' "$OUT/times"
}

# run_patrol ARGS… → prints "wall-ns cpu-ms hits" (runs in a subshell, whose
# children's CPU time starts at zero)
run_patrol() {
  local s e code=0
  s=$(now)
  "$BIN" scan "$@" "$CORPUS" >"$OUT/p.txt" 2>"$OUT/p.err" || code=$?
  e=$(now)
  times >"$OUT/times"
  if [ "$code" -gt 1 ]; then cat "$OUT/p.err" >&2; exit 1; fi
  echo "$((e - s)) $(children_cpu_ms) $(wc -l <"$OUT/p.txt")"
}

# run_rg ARGS… → prints "wall-ns cpu-ms matches" (with --count-matches: the
# sum of the per-file counts; otherwise one output line per match)
run_rg() {
  local s e c
  s=$(now)
  rg --no-config "$@" "$CORPUS" >"$OUT/r.txt" || true
  e=$(now)
  times >"$OUT/times"
  c=$(children_cpu_ms)
  if [ "$1" = --count-matches ]; then
    echo "$((e - s)) $c $(awk -F: '{n += $NF} END {print n + 0}' "$OUT/r.txt")"
  else
    echo "$((e - s)) $c $(wc -l <"$OUT/r.txt")"
  fi
}

# stats N… → "smallest median"
stats() {
  printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[1], a[int((NR + 1) / 2)]}'
}

mbps() { awk -v b="$BYTES" -v ns="$1" 'BEGIN {printf "%.0f", b / (ns / 1e9) / 1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

compare() { # label, expected valid hits, patrol args (before --), rg args (after --)
  local label=$1 expected=$2; shift 2
  local pargs=() rargs=()
  while [ "$1" != -- ]; do pargs+=("$1"); shift; done
  shift; rargs=("$@")
  local pw=() pc=() rw=() rc=() ph=0 rh=0 r w c n
  for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2)); then
      read -r w c rh <<<"$(run_rg "${rargs[@]}")"; rw+=("$w"); rc+=("$c")
      read -r w c ph <<<"$(run_patrol "${pargs[@]}")"; pw+=("$w"); pc+=("$c")
    else
      read -r w c ph <<<"$(run_patrol "${pargs[@]}")"; pw+=("$w"); pc+=("$c")
      read -r w c rh <<<"$(run_rg "${rargs[@]}")"; rw+=("$w"); rc+=("$c")
    fi
  done
  local pbest pmed rbest rmed pcpu rcpu
  read -r pbest pmed <<<"$(stats "${pw[@]}")"
  read -r rbest rmed <<<"$(stats "${rw[@]}")"
  read -r _ pcpu <<<"$(stats "${pc[@]}")"
  read -r _ rcpu <<<"$(stats "${rc[@]}")"
  local fp="zero false positives"
  [ "$ph" = "$expected" ] || fp="MISMATCH: $ph reported, $expected valid planted"
  printf '%s\n' "$label"
  printf '  patrol  %6s MB/s best, %6s median, CPU %5d ms median   %4s hits (%s)\n' \
    "$(mbps "$pbest")" "$(mbps "$pmed")" "$pcpu" "$ph" "$fp"
  printf '  rg      %6s MB/s best, %6s median, CPU %5d ms median   %4s regex matches\n' \
    "$(mbps "$rbest")" "$(mbps "$rmed")" "$rcpu" "$rh"
  printf '  ratio   %6sx     best, %6sx median, CPU %5sx median\n' \
    "$(ratio "$rbest" "$pbest")" "$(ratio "$rmed" "$pmed")" "$(ratio "$rcpu" "$pcpu")"
}

echo "machine: $(nproc) CPUs; $(rg --version | head -1); load before: $(uptime | sed 's/.*load average: //')"
echo "corpus: $((BYTES / 1000000)) MB in $(val files) files; planted valid: $VALID_CASK cask, $VALID_LEGACY legacy; look-alikes: $(val corrupt_cask) cask, $(val corrupt_legacy) legacy; $ROUNDS rounds"
compare "--only cask" "$VALID_CASK" --only cask -- --count-matches "$CASK"
compare "--only legacy" "$VALID_LEGACY" --only legacy -- --count-matches "$LEGACY"
compare "default (both)" "$((VALID_CASK + VALID_LEGACY))" -- --count-matches -e "$CASK" -e "$LEGACY"
# ripgrep printing what patrol prints (path, line, column of each match):
# it then counts lines too.
compare "--only cask (rg printing line and column: -o -n --column)" "$VALID_CASK" --only cask -- -o -n --column "$CASK"
echo "load after: $(uptime | sed 's/.*load average: //')"
