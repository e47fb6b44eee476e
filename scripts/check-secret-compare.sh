#!/usr/bin/env bash
# docs/security.md item 3: secrets are compared in constant time. This gate
# fails on any `==` / `!=` in non-test Rust source whose operand exposes a
# secret's bytes or text (`.expose()`, `.expose_secret()`, or `.as_bytes()`
# of something named like a secret). Typed digests (`TokenDigest`, whose
# `PartialEq` is `subtle::ConstantTimeEq`) are compared with `==` on purpose:
# such a line carries the marker `// ct:` saying why it is constant-time.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='(\.expose(_secret)?\(\)|(secret|token|csrf|nonce|state|password|digest|mac|verifier)[a-z_]*(\(\))?\.as_bytes\(\)|\bk\.mac\()[^;]*(==|!=)|(==|!=)[^;]*(\.expose(_secret)?\(\)|(secret|token|csrf|nonce|state|password|digest|mac)[a-z_]*\.as_bytes\(\))'
hits=$(grep -rnE --include='*.rs' "$pattern" crates/*/src \
  | grep -v '/tests\.rs:' \
  | grep -v '// ct:' \
  | awk -F: '{ file=$1; line=$2; cmd="awk '"'"'NR<" line " && /#\\[cfg\\(test\\)\\]/ {t=1} END {print t+0}'"'"' " file; cmd | getline intest; close(cmd); if (!intest) print }' || true)
if [ -n "$hits" ]; then
  echo "Secrets compared with ==/!= (use subtle::ConstantTimeEq, or mark a typed constant-time comparison with '// ct: why'):"
  echo "$hits"
  exit 1
fi
echo "no secret compared with ==/!= outside constant-time types"
