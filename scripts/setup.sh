#!/usr/bin/env bash
# Install what the build, the fixtures and the tests need; skip whatever is already there.
# Idempotent and fast on a machine that is already set up.
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

log() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- apt packages -----------------------------------------------------------------------------
APT_PACKAGES=(openmpi-bin libopenmpi-dev mpich libmpich-dev gfortran libhdf5-dev pkg-config
              python3-mpi4py python3-venv libclang-dev clang
              gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # With recommends, as on the machines the suite was validated on (Open MPI's hwloc plugins,
    # UCX and PMIx come in as recommendations).
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- cmake >= 3.26 (the static HDF5 build of hdf5-metno needs it) -----------------------------
cmake_ok() {
    command -v cmake >/dev/null 2>&1 || return 1
    local v
    v="$(cmake --version | head -n1 | awk '{print $3}')"
    [ "$(printf '%s\n%s\n' 3.26 "$v" | sort -V | head -n1)" = 3.26 ]
}
if ! cmake_ok; then
    log "pip install cmake>=3.26"
    python3 -m pip install -q 'cmake>=3.26'
    hash -r
    cmake_ok || { log "cmake >= 3.26 still not on PATH"; exit 1; }
fi

# --- reference tool venvs (the oracle) --------------------------------------------------------
# 0.2.x and 0.7.x conflict, hence one venv each. A marker file says the install completed.
# 0.2.6 is the last 0.2.x release that still has `scope_profiler.h5reader.ProfilingH5Reader`
# (the reader the MPI-support page documents); 0.2.7 and 0.2.8 replaced it with read_h5().
make_venv "$SCOPE_ORACLE_DIR/venv-0.2" 'scope-profiler==0.2.6'
make_venv "$SCOPE_ORACLE_DIR/venv-0.7" 'scope-profiler==0.7.5'
# The same two versions with Debian's mpi4py visible: the reference tool itself profiling the
# seed's mpi_example.py on 4 ranks (it imports mpi4py under a launcher), side by side with scope
# (tests/tests/python_regions.rs).
make_venv "$SCOPE_ORACLE_DIR/venv-0.2-mpi4py" 'scope-profiler==0.2.6' --system-site-packages
make_venv "$SCOPE_ORACLE_DIR/venv-0.7-mpi4py" 'scope-profiler==0.7.5' --system-site-packages

# --- mpi4py built against MPICH (Debian's python3-mpi4py is built against Open MPI) -----------
# Built from source with mpicc.mpich: about a minute. The pins keep the 3.1 build working with
# the setuptools and Cython it was written for.
MPI4PY_MPICH="$SCOPE_ORACLE_DIR/venv-mpi4py-mpich"
MPI4PY_SPEC='mpi4py==3.1.6 with mpicc.mpich'
if [ ! -f "$MPI4PY_MPICH/.scope-installed" ] || [ "$(cat "$MPI4PY_MPICH/.scope-installed")" != "$MPI4PY_SPEC" ]; then
    log "venv $MPI4PY_MPICH: building $MPI4PY_SPEC"
    rm -rf "$MPI4PY_MPICH"
    "$SCOPE_PYTHON" -m venv "$MPI4PY_MPICH"
    "$MPI4PY_MPICH/bin/python" -m pip install -q --disable-pip-version-check 'setuptools<70' 'cython<3' wheel
    MPICC=mpicc.mpich "$MPI4PY_MPICH/bin/python" -m pip install -q --disable-pip-version-check \
        --no-build-isolation --no-binary mpi4py --no-cache-dir 'mpi4py==3.1.6'
    printf '%s' "$MPI4PY_SPEC" >"$MPI4PY_MPICH/.scope-installed"
fi

# --- an MPICH that can spawn, from PyPI ---------------------------------------------------------
# Debian 12's MPICH (ch4:ucx only) cannot MPI_Comm_spawn; the PyPI `mpich` wheel (ch4:ofi,ucx,
# Hydra's mpiexec, mpicc and headers, libmpi.so.12) can, and the mpi4py 4.x wheel loads whichever
# MPICH-ABI libmpi it finds at run time. Wheels only (mpi4py from source takes many GiB of memory to
# compile): a few seconds. Used by tests/tests/spawn.rs for MPICH's spawn tests.
make_venv "$SCOPE_ORACLE_DIR/venv-mpich-pypi" 'mpich==4.2.3 mpi4py==4.1.1 --only-binary=:all:'

"$(dirname "${BASH_SOURCE[0]}")/setup-pproc-oracles.sh"

log "ok"
