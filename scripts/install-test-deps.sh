#!/usr/bin/env bash
# Installs what Patrol's end-to-end tests need, idempotently:
#   1. Debian packages: nginx fcgiwrap git chromium   (apt-get update only when one is missing)
#   2. Python venv .e2e/venv from tests/e2e/requirements.txt (azure-devops, requests, pytest,
#      schemathesis 4.32.5 for tests/e2e/test_openapi_contract.py, scim2-cli/scim2-tester for
#      tests/e2e/test_scim.py)
#   3. npm ci in tests/e2e/oidc-provider (oidc-provider) and tests/e2e/browser (playwright-core,
#      which drives Debian's /usr/bin/chromium; no Playwright browser is ever downloaded)
#   4. the nightly Rust toolchain and cargo-fuzz, for the fuzz smoke run (docs/fuzzing.md)
# Each step checks first and does nothing when already satisfied, so a second run takes
# a second or two. Works as root without stdin (CI). Run from anywhere:
#   scripts/install-test-deps.sh && .e2e/venv/bin/pytest tests/e2e
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$REPO/tests/e2e"
OP_DIR="$E2E/oidc-provider"
BROWSER_DIR="$E2E/browser"
VENV="$REPO/.e2e/venv"
REQ="$E2E/requirements.txt"
APT_PACKAGES=(nginx fcgiwrap git chromium)
NODE_MIN_MAJOR=20
CARGO_FUZZ_VERSION=0.13.2
START=$(date +%s)

log() { printf '[install-test-deps] %s\n' "$*"; }
die() { printf '[install-test-deps] ERROR: %s\n' "$*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- 1. Debian packages ----------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    SUDO=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Don't let package scripts start nginx/fcgiwrap as system services (port 80 etc.):
  # the tests run their own instances. Only add a policy if the system has none.
  temp_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    temp_policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$temp_policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$temp_policy"
    trap '"${SUDO[@]}" rm -f "$temp_policy"' EXIT
  fi
  log "apt: missing ${missing[*]}; running apt-get update"
  "${SUDO[@]}" apt-get update -q </dev/null
  log "apt: installing ${missing[*]}"
  "${SUDO[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" </dev/null
  if [ -n "$temp_policy" ]; then
    "${SUDO[@]}" rm -f "$temp_policy"
    trap - EXIT
  fi
else
  log "apt: ok (${APT_PACKAGES[*]} already installed)"
fi

# --- 2. Python venv ----------------------------------------------------------------------------
PY="${PYTHON:-$(command -v python3 || true)}"
[ -n "$PY" ] || die "python3 not found"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$PY is older than Python 3.10"

stamp="$VENV/.patrol-requirements.sha256"
want="$(sha "$REQ")"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null \
   && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
  log "venv: ok ($VENV, requirements unchanged)"
else
  if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    log "venv: $VENV is broken (its Python is gone); recreating"
    rm -rf "$VENV"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "venv: creating $VENV with $("$PY" --version 2>&1)"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
  fi
  log "venv: pip install -r ${REQ#"$REPO"/}"
  "$VENV/bin/pip" install --disable-pip-version-check -q -r "$REQ" </dev/null
  echo "$want" >"$stamp"
fi

# --- 3. oidc-provider (npm ci) -----------------------------------------------------------------
command -v node >/dev/null || die "node not found (Node.js >= $NODE_MIN_MAJOR is part of the machine image)"
command -v npm >/dev/null || die "npm not found"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge "$NODE_MIN_MAJOR" ] || die "node $(node --version) is older than $NODE_MIN_MAJOR"

# The lockfiles must only point at the npm registry: no git/file/http(s) sources elsewhere.
node - "$OP_DIR/package-lock.json" "$BROWSER_DIR/package-lock.json" <<'EOF'
for (const file of process.argv.slice(2)) {
  const lock = JSON.parse(require('fs').readFileSync(file, 'utf8'));
  const bad = [];
  for (const [path, pkg] of Object.entries(lock.packages || {})) {
    if (path === '') continue;
    if (pkg.link) bad.push(`${path}: link`);
    if (pkg.resolved && !pkg.resolved.startsWith('https://registry.npmjs.org/')) bad.push(`${path}: ${pkg.resolved}`);
    if (pkg.version && !/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(pkg.version)) bad.push(`${path}: version ${pkg.version}`);
    if (!pkg.integrity) bad.push(`${path}: no integrity hash`);
  }
  if (bad.length) {
    console.error(file + ' has non-registry sources:\n  ' + bad.join('\n  '));
    process.exit(1);
  }
}
EOF

# npm_ci DIR PACKAGE: `npm ci` in DIR unless node_modules/PACKAGE is there and matches the lockfile.
npm_ci() {
  local dir="$1" pkg="$2" stamp want
  stamp="$dir/node_modules/.patrol-lock.sha256"
  want="$(sha "$dir/package-lock.json") node$node_major"
  if [ -d "$dir/node_modules/$pkg" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
    log "npm: ok (${dir#"$REPO"/}/node_modules matches package-lock.json)"
  else
    log "npm: npm ci in ${dir#"$REPO"/}"
    # playwright-core never downloads a browser by itself; the variable makes sure of it.
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error </dev/null)
    echo "$want" >"$stamp"
  fi
}
npm_ci "$OP_DIR" oidc-provider
npm_ci "$BROWSER_DIR" playwright-core

# --- 4. nightly Rust + cargo-fuzz ---------------------------------------------------------------
command -v rustup >/dev/null || die "rustup not found (the fuzz targets need a nightly toolchain)"
if rustup run nightly rustc --version >/dev/null 2>&1; then
  log "rust: ok ($(rustup run nightly rustc --version))"
else
  log "rust: installing the nightly toolchain (minimal profile)"
  rustup toolchain install nightly --profile minimal </dev/null
fi
if [ "$(cargo fuzz --version 2>/dev/null || true)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  log "cargo-fuzz: ok ($CARGO_FUZZ_VERSION)"
else
  log "cargo-fuzz: cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
  # Its own target dir: never the workspace's (CARGO_TARGET_DIR may be exported by the caller).
  fuzz_build="$(mktemp -d)"
  CARGO_TARGET_DIR="$fuzz_build" cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet </dev/null
  rm -rf "$fuzz_build"
fi

log "done in $(( $(date +%s) - START ))s: $("$VENV/bin/python" --version), \
schemathesis $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))'), node $(node --version), \
oidc-provider $(node -p "require('$OP_DIR/node_modules/oidc-provider/package.json').version"), \
playwright-core $(node -p "require('$BROWSER_DIR/node_modules/playwright-core/package.json').version"), \
nginx $(dpkg-query -W -f='${Version}' nginx), fcgiwrap $(dpkg-query -W -f='${Version}' fcgiwrap), \
chromium $(dpkg-query -W -f='${Version}' chromium), $(cargo fuzz --version)"
