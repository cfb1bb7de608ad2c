# shellcheck shell=bash
# Sourced by setup.sh and demo.sh: `ensure_cmake` makes a cmake >= 3.26 (what the static HDF5
# build of hdf5-metno needs; Debian 12 ships 3.25) the first on PATH: the system's when it is
# new enough, else PyPI's cmake in a venv under target/tools/cmake, which env.sh puts on PATH.
# Nothing is installed into the system's Python. Callers define `log` and source env.sh.

SCOPE_CMAKE_VENV="$SCOPE_ROOT/target/tools/cmake"

cmake_ok() {
    command -v cmake >/dev/null 2>&1 || return 1
    local v
    v="$(cmake --version | head -n1 | awk '{print $3}')"
    [ "$(printf '%s\n%s\n' 3.26 "$v" | sort -V | head -n1)" = 3.26 ]
}

ensure_cmake() {
    cmake_ok && return 0
    log "cmake >= 3.26 from PyPI into $SCOPE_CMAKE_VENV (the system's is older or missing)"
    rm -rf "$SCOPE_CMAKE_VENV"
    mkdir -p "$(dirname "$SCOPE_CMAKE_VENV")"
    /usr/bin/python3 -m venv "$SCOPE_CMAKE_VENV"
    "$SCOPE_CMAKE_VENV/bin/python" -m pip install -q --disable-pip-version-check 'cmake>=3.26'
    PATH="$SCOPE_CMAKE_VENV/bin:$PATH"
    hash -r
    cmake_ok || { log "cmake >= 3.26 still not on PATH"; exit 1; }
}
