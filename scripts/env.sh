# shellcheck shell=bash
# Sourced by the other scripts (and usable by hand: `source scripts/env.sh`).
# Environment that MPI runs on this kind of machine need: Open MPI refuses to run as root and to
# place more ranks than cores unless told otherwise; MPICH (Hydra) needs neither.

SCOPE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SCOPE_ROOT

export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Keep Open MPI quiet and local: no warnings about missing high-speed interconnects.
export OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader,tcp}"
export OMPI_MCA_btl_tcp_if_include="${OMPI_MCA_btl_tcp_if_include:-lo}"
export OMPI_MCA_oob_tcp_if_include="${OMPI_MCA_oob_tcp_if_include:-lo}"
# Debian's mpi4py lives in the system interpreter, not in a pyenv one that may come first on PATH.
export SCOPE_PYTHON="${SCOPE_PYTHON:-/usr/bin/python3}"
# Where build.sh puts the fixtures and where the tests look for them.
export SCOPE_FIXTURES="${SCOPE_FIXTURES:-$SCOPE_ROOT/target/fixtures}"
# The arm64 MPIs (Open MPI, MPICH) and their libraries, extracted from Debian's arm64 packages by
# setup.sh: the guest prefix of qemu-user (QEMU_LD_PREFIX) for aarch64 ranks (tests/src/aarch64.rs).
export SCOPE_AARCH64_SYSROOT="${SCOPE_AARCH64_SYSROOT:-$SCOPE_ROOT/target/aarch64-sysroot}"
# Reference-tool venvs (the compatibility oracle), created by setup.sh.
export SCOPE_ORACLE_DIR="${SCOPE_ORACLE_DIR:-$SCOPE_ROOT/target/oracle}"

# make_venv DIR 'REQUIREMENTS...' ['VENV OPTIONS...']: a venv under DIR with the requirements
# installed; skipped when DIR's marker file holds the same requirements and options (written only
# after a complete install). Options go to `python -m venv` (`--system-site-packages`: Debian's
# mpi4py, built against Open MPI, is visible inside). Callers define `log`.
make_venv() {
    local dir="$1" spec="$2" opts="${3:-}"
    local marker="$dir/.scope-installed" want="$spec"
    [ -z "$opts" ] || want="$spec [venv $opts]"
    if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then
        return 0
    fi
    log "venv $dir with $want"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    # shellcheck disable=SC2086 # opts is a list of options
    "$SCOPE_PYTHON" -m venv $opts "$dir"
    # shellcheck disable=SC2086 # spec is a list of requirements
    "$dir/bin/python" -m pip install -q --disable-pip-version-check $spec
    printf '%s' "$want" >"$marker"
}
# cmake >= 3.26 for the static HDF5 build, when the system's is older: scripts/cmake.sh puts
# PyPI's cmake there.
if [ -x "$SCOPE_ROOT/target/tools/cmake/bin/cmake" ]; then
    case ":$PATH:" in
        *":$SCOPE_ROOT/target/tools/cmake/bin:"*) ;;
        *) PATH="$SCOPE_ROOT/target/tools/cmake/bin:$PATH" ;;
    esac
fi
