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
              gcc-aarch64-linux-gnu g++-aarch64-linux-gnu gfortran-aarch64-linux-gnu
              libc6-dev-arm64-cross qemu-user-static binfmt-support)
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

# --- aarch64 under qemu-user (issue 16) --------------------------------------------------------
# The kernel hands aarch64 ELF files to qemu-aarch64-static (binfmt_misc), so the amd64 launchers
# exec aarch64 ranks as they exec any program. qemu-user-static registers with the F flag (the
# kernel opens the interpreter at registration), which also works in containers; binfmt_misc must
# be mounted first, and a package installed before it was mounted has registered nothing.
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    log "mount binfmt_misc"
    as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    log "update-binfmts --enable qemu-aarch64"
    as_root update-binfmts --enable qemu-aarch64
fi
# ld.so is itself an aarch64 executable: run it directly, through binfmt_misc.
/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 --version >/dev/null ||
    { log "aarch64 programs do not run (binfmt_misc, qemu-aarch64)"; exit 1; }

if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    log "rustup target add aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu
fi

# The arm64 MPIs: one sysroot, $SCOPE_AARCH64_SYSROOT (default target/aarch64-sysroot), made of
# Debian's arm64 packages extracted with dpkg-deb -x: libopenmpi3 and libmpich12 with every
# library they need (glibc included), and libopenmpi-dev and libmpich-dev for the headers and the
# link-time .so names. Nothing is installed into the system for arm64: Open MPI's arm64 packages
# cannot be co-installed with the amd64 ones (libmunge2), libmpich-dev:arm64 would remove the
# native gcc, and libmpich12:arm64 drags along upgrades of amd64 packages (systemd) whenever the
# machine is behind the archive. The one directory is qemu's whole guest prefix
# (QEMU_LD_PREFIX=<sysroot>: the guest's file lookups try <sysroot>/PATH first, then PATH), so the
# ranks of both MPIs find their loader, libc and MPI there; tests/src/aarch64.rs and
# tests/fixtures/build-aarch64-mpi.sh use it. The MPIs are the versions of the amd64 ones that
# launch them (same Open MPI, PMIx and MPICH release); the marker file holds them, so a changed
# host MPI rebuilds the sysroot.
aarch64_sysroot() {
    local sysroot="$SCOPE_AARCH64_SYSROOT" ompi mpich spec
    ompi="$(dpkg-query -W -f='${Version}' libopenmpi3)"
    mpich="$(dpkg-query -W -f='${Version}' libmpich12)"
    spec="libopenmpi3=$ompi libopenmpi-dev=$ompi libmpich12=$mpich libmpich-dev=$mpich"
    if [ -f "$sysroot/.scope-installed" ] && [ "$(cat "$sysroot/.scope-installed")" = "$spec" ]; then
        return 0
    fi
    log "arm64 sysroot $sysroot with $spec"
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        log "dpkg --add-architecture arm64 (package lists only; nothing arm64 is installed)"
        as_root dpkg --add-architecture arm64
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    elif ! apt-cache show "libopenmpi3:arm64=$ompi" "libmpich12:arm64=$mpich" >/dev/null 2>&1; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    fi
    local roots=("libopenmpi3:arm64=$ompi" "libmpich12:arm64=$mpich")
    local dev=("libopenmpi-dev:arm64=$ompi" "libmpich-dev:arm64=$mpich")
    # The run-time closure of the two libraries: Depends and Pre-Depends, arm64 packages only
    # (the arch-all ones they name, adduser and its kin, are not libraries), a virtual package
    # through its first provider. The roots come at the pinned versions, the rest at the archive's.
    local -A seen=([libopenmpi3:arm64]=1 [libmpich12:arm64]=1)
    local queue=(libopenmpi3:arm64 libmpich12:arm64) batch p deps=()
    while [ "${#queue[@]}" -gt 0 ]; do
        batch=("${queue[@]}")
        queue=()
        while read -r p; do
            [ -z "${seen[$p]:-}" ] || continue
            seen[$p]=1
            queue+=("$p")
            deps+=("$p")
        done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances "${batch[@]}" | awk '
                /^  \|?(Pre)?Depends: </ { virt = 1; next }
                /^  \|?(Pre)?Depends: /  { virt = 0; print $2; next }
                /^    / && virt          { virt = 0; print $1; next }
                                         { virt = 0 }' | grep ':arm64$' | sort -u)
    done
    local parent tmp
    parent="$(dirname "$sysroot")"
    mkdir -p "$parent"
    tmp="$(mktemp -d "$parent/.aarch64-sysroot.XXXXXX")"
    mkdir "$tmp/debs" "$tmp/root"
    (cd "$tmp/debs" && apt-get download -q -o APT::Sandbox::User=root \
        "${roots[@]}" "${dev[@]}" "${deps[@]}" >/dev/null)
    local deb
    for deb in "$tmp"/debs/*.deb; do
        dpkg-deb -x "$deb" "$tmp/root"
    done
    local f
    for f in lib/ld-linux-aarch64.so.1 usr/lib/aarch64-linux-gnu/libmpi.so.40 \
        usr/lib/aarch64-linux-gnu/libmpich.so.12 usr/lib/aarch64-linux-gnu/openmpi/include/mpi.h \
        usr/include/aarch64-linux-gnu/mpich/mpi.h; do
        [ -e "$tmp/root/$f" ] || { log "arm64 sysroot: $f is missing"; rm -rf "$tmp"; exit 1; }
    done
    rm -rf "$sysroot"
    mv "$tmp/root" "$sysroot"
    rm -rf "$tmp"
    printf '%s' "$spec" >"$sysroot/.scope-installed"
}
aarch64_sysroot

# --- cmake >= 3.26 (the static HDF5 build of hdf5-metno needs it) -----------------------------
# shellcheck source=scripts/cmake.sh
source "$(dirname "${BASH_SOURCE[0]}")/cmake.sh"
ensure_cmake

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
