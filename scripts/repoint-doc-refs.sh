#!/usr/bin/env bash
# One-off: point the code comments under crates/ that cite documents outside the
# repository (security.md, ado-api.md, token-format.md, /work/shared/…) at the
# project's own reference pages in docs/. Run once from the repository root after
# the house-cleaning branches have merged, commit the result, then delete this
# script.
#
#   ado-api.md §N.M            -> `docs/ado-wire-contract.md` §N.M   (same section numbers)
#   security.md item N / §1    -> `docs/security.md` item N / §1     (same item numbers)
#   security.md N, N–M         -> `docs/security.md` item N, items N–M
#   security checklist item N  -> `docs/security.md` item N
#   /work/shared/token-format.md §1, and the bare §1.x at the top of the token
#   modules                    -> `docs/token-format.md` §1.x        (same section numbers)
#   the §12.1 table (scope tests) -> the `docs/ado-wire-contract.md` §12.1 table
#
# Rules match the citation text, never line numbers, so they work wherever the
# comments have moved to. Running it twice changes nothing the second time. At the
# end it lists any citation of an outside document still left anywhere (exit 1 if
# there is one), and widens tests/e2e/test_doc_references.py to guard crates/ too.
set -euo pipefail
cd "$(dirname "$0")/.."

changed=0

# apply DESCRIPTION SED-EXPRESSION FILE... : runs the expression on every file that
# it changes, and reports how many lines changed.
apply() {
    local what=$1 expr=$2
    shift 2
    local n=0 f before after
    for f in "$@"; do
        [ -f "$f" ] || continue
        before=$(cksum <"$f")
        local lines
        lines=$(sed -E -n "${expr}p" "$f" | wc -l)
        sed -E -i "$expr" "$f"
        after=$(cksum <"$f")
        if [ "$before" != "$after" ]; then
            n=$((n + lines))
            printf '  %s: %s line(s)\n' "$f" "$lines"
        fi
    done
    printf '%-62s %3d line(s)\n' "$what" "$n"
    changed=$((changed + n))
}

mapfile -t files < <(grep -rlE 'security\.md|ado-api\.md|token-format|security checklist|/work/shared/|§1\.[0-9]|§12\.1' crates \
    --include='*.rs' --include='*.toml' --include='*.md' --include='*.html' --include='*.sql' || true)
printf 'files citing reference documents under crates/: %d\n' "${#files[@]}"

# Characters that may not precede a bare file name (so `docs/security.md` is left alone).
pre='(^|[^/[:alnum:]_.`-])'

apply '/work/shared/token-format.md -> docs/token-format.md' \
    's#/work/shared/token-format\.md#docs/token-format.md#g' "${files[@]}"
apply '`ado-api.md` -> `docs/ado-wire-contract.md`' \
    's#`ado-api\.md`#`docs/ado-wire-contract.md`#g' "${files[@]}"
apply 'ado-api.md -> `docs/ado-wire-contract.md`' \
    "s#${pre}ado-api\\.md#\\1\`docs/ado-wire-contract.md\`#g" "${files[@]}"
apply 'security.md N–M -> `docs/security.md` items N–M' \
    "s#${pre}security\\.md ([0-9]+ *(–|-) *[0-9]+)#\\1\`docs/security.md\` items \\2#g" "${files[@]}"
apply 'security.md N -> `docs/security.md` item N' \
    "s#${pre}security\\.md ([0-9]+)#\\1\`docs/security.md\` item \\2#g" "${files[@]}"
apply '`security.md` -> `docs/security.md`' \
    's#`security\.md`#`docs/security.md`#g' "${files[@]}"
apply 'security.md (item N, items N…, §1) -> `docs/security.md`' \
    "s#${pre}security\\.md#\\1\`docs/security.md\`#g" "${files[@]}"
apply 'limits.rs quotes the old §1 wording -> the words of docs/security.md §1' \
    's#(`docs/security\.md` §1: )"Too many failures → 429 \+ Retry-After"#\1too many failed authentications → 429 + Retry-After#' \
    crates/patrol-server/tests/api/limits.rs
apply 'security checklist item N -> `docs/security.md` item N' \
    's#security checklist item#`docs/security.md` item#g' "${files[@]}"

# The token modules cite sections of the token format by number alone.
tok=crates/patrol-core/src/token
apply 'codec.rs (§1.2) -> (`docs/token-format.md` §1.2)' \
    's#(two checksum encodings )\(§1\.2\)#\1(`docs/token-format.md` §1.2)#' "$tok/codec.rs"
apply 'cask.rs (§1.1, §1.2) -> (`docs/token-format.md` §1.1, §1.2)' \
    's#(checking and minting )\(§1\.1, §1\.2\)#\1(`docs/token-format.md` §1.1, §1.2)#' "$tok/cask.rs"
apply 'legacy.rs (§1.6) -> (`docs/token-format.md` §1.6)' \
    's#(legacy 52-char ADO PAT )\(§1\.6\)#\1(`docs/token-format.md` §1.6)#' "$tok/legacy.rs"
apply 'tests.rs header §1.4 -> `docs/token-format.md` §1.4' \
    's#^(//! Token-format tests: )§1\.4 vectors#\1`docs/token-format.md` §1.4 vectors#' "$tok/tests.rs"
apply 'marvin.rs §1.4 of the token-format reference -> `docs/token-format.md` §1.4' \
    's#§1\.4 of the token-format reference \(#`docs/token-format.md` §1.4 (#' "$tok/marvin.rs"
apply 'scope/tests.rs the §12.1 table -> the `docs/ado-wire-contract.md` §12.1 table' \
    's#named in the §12\.1 table#named in the `docs/ado-wire-contract.md` §12.1 table#' \
    crates/patrol-core/src/scope/tests.rs

printf 'lines rewritten: %d\n' "$changed"

# From now on the guard test covers crates/ as well.
guard=tests/e2e/test_doc_references.py
if grep -q '^SCANNED = ("docs", "tests", "scripts", "bench")$' "$guard"; then
    sed -i 's#^SCANNED = ("docs", "tests", "scripts", "bench")$#SCANNED = ("crates", "docs", "tests", "scripts", "bench")#' "$guard"
    echo "$guard now scans crates/ too"
fi

# Anything still citing a document outside the repository?
# (A Markdown link to a page beside it, `](security.md#…)`, is inside the repository.)
left=$(grep -rnP '(?<![/\w.`-])(?<!\]\()(security|ado-api|SPEC|token-format)\.md|/work/|\.\./shared/|security checklist' \
    crates tests docs scripts bench ./*.md \
    --include='*.rs' --include='*.py' --include='*.mjs' --include='*.md' --include='*.sh' \
    --include='*.toml' --include='*.html' --include='*.sql' \
    | grep -v -e '^scripts/repoint-doc-refs.sh:' -e '^tests/e2e/test_doc_references.py:' || true)
if [ -n "$left" ]; then
    echo "still citing documents outside the repository:"
    echo "$left"
    exit 1
fi
echo "no citation of a document outside the repository is left"
