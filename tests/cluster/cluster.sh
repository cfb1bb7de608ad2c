#!/usr/bin/env bash
# cluster.sh — a cluster of N simulated nodes on this machine, for multi-node tests (needs root).
#
# Each node is: its own network namespace (interface `scope0`, 10.213.X.k/24, on a veth into a
# bridge that lives in the cluster's own "switch" network namespace; no route anywhere else; its
# /sys/class/net shows only lo and scope0), its own hostname (UTS namespace: <id>-node<k>), its
# own mount namespace with a private tmpfs on /tmp and /dev/shm (node-local disk) and an
# /etc/hosts that names every node, its own IPC namespace and boot_id
# (/proc/sys/kernel/random/boot_id, which UCX and others use to tell machines apart), and its own
# CLOCK_MONOTONIC (time namespace, node k offset by k × STEP seconds, default 7 h). A long-lived
# holder process (`sleep infinity`) keeps the namespaces; `exec` and fake-ssh enter them with
# `nsenter -t HOLDER`. Everything else (the repository, target/) is shared by all nodes, as is the
# pid namespace. Nothing is configured in the root network namespace.
#
# `--share-ipc` keeps the host's IPC namespace and boot_id on every node: UCX then sees one
# machine and carries MPICH's (ch4:ucx) messages between nodes over shared memory instead of TCP.
# Debian 12's UCX 1.13 over TCP hangs in MPI_Finalize at 6 ranks even on one node without any
# namespaces (`UCX_TLS=tcp,self mpiexec.mpich -n 6 …`), so MPICH runs need it; Hydra's own
# launch and control traffic still crosses the simulated network.
#
# Usage (the cluster id comes from `up`, later commands take it from $SCOPE_CLUSTER):
#   export SCOPE_CLUSTER="$(cluster.sh up N [--clock-step S] [--owner PID] [--share-ipc])"
#   cluster.sh exec NODE CMD...    run CMD on node NODE (1-based), keeping env and cwd
#   cluster.sh env openmpi|mpich   print `export` lines that point that MPI at the cluster
#   cluster.sh info                print id, nodes, hostnames, addresses, offsets
#   cluster.sh down [ID]           remove everything of cluster ID (default $SCOPE_CLUSTER)
#   cluster.sh clean-stale         remove every cluster whose owner process is gone
# `up` removes stale clusters first. The owner (default: the caller, $PPID) is the process whose
# death makes the cluster stale (tests pass their own pid).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE_ROOT="${SCOPE_CLUSTER_STATE:-/run/scope-cluster}"
IFACE=scope0
NAME_RE='^sc[0-9a-f]{6}$'

die() {
    printf 'cluster.sh: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n 's/^# \{0,1\}//;2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' >&2
    exit 2
}

# start_time PID: the process's start time in clock ticks since boot (guards against pid reuse).
start_time() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    # Field 22 of stat is field 20 after "pid (comm) ".
    awk '{print $20}' <<<"$stat"
}

state_dir() { # state_dir ID
    [[ "$1" =~ $NAME_RE ]] || die "not a cluster id: '$1'"
    printf '%s/%s' "$STATE_ROOT" "$1"
}

current() {
    [ -n "${SCOPE_CLUSTER:-}" ] || die "SCOPE_CLUSTER is not set (export it from \`cluster.sh up\`)"
    state_dir "$SCOPE_CLUSTER" >/dev/null
    printf '%s' "$SCOPE_CLUSTER"
}

holder_pid() { # holder_pid ID NODE
    local dir pid
    dir="$(state_dir "$1")"
    [ -f "$dir/node$2.pid" ] || die "cluster $1 has no node $2"
    pid="$(cat "$dir/node$2.pid")"
    [ -d "/proc/$pid" ] || die "node $2 of cluster $1 is gone (holder $pid)"
    printf '%s' "$pid"
}

# The body of a node's holder, run inside its new namespaces: name the node, give it private
# /tmp (the repository, $4, stays visible: private-tmp) and /dev/shm and the cluster's /etc/hosts, forget the other namespaces' /run/netns handles,
# publish its pid, then wait forever.
# shellcheck disable=SC2016 # expanded by the holder's own shell
HOLDER='set -e
hostname "$1"
"$4/tests/cluster/private-tmp" "$1-tmp" "$4"
mount -t tmpfs -o mode=1777,size=512m "$1-shm" /dev/shm
mount --bind "$2" /etc/hosts
if [ -s "$3.boot_id" ]; then mount --bind "$3.boot_id" /proc/sys/kernel/random/boot_id; fi
mkdir /dev/shm/.sys
mount -t sysfs "$1-sys" /dev/shm/.sys
mount --bind /dev/shm/.sys/class/net /sys/class/net
mount --bind /dev/shm/.sys/devices/virtual/net /sys/devices/virtual/net
umount /dev/shm/.sys
rmdir /dev/shm/.sys
umount -l /run/netns 2>/dev/null || true
echo $$ >"$3.pid.tmp"
mv "$3.pid.tmp" "$3.pid"
exec sleep infinity'

cmd_up() {
    local n="" step=25200 owner="$PPID" ipc=--ipc
    while [ $# -gt 0 ]; do
        case "$1" in
        --clock-step) step="${2:?--clock-step needs SECONDS}"; shift 2 ;;
        --owner) owner="${2:?--owner needs PID}"; shift 2 ;;
        --share-ipc) ipc=""; shift ;;
        *) [ -z "$n" ] || usage; n="$1"; shift ;;
        esac
    done
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "up needs a node count (1..99), not '$n'"
    [[ "$step" =~ ^[0-9]+$ ]] || die "--clock-step needs whole seconds, not '$step'"
    [ "$(id -u)" = 0 ] || die "needs root (network, mount, UTS and time namespaces)"
    for t in ip nsenter unshare mount; do
        command -v "$t" >/dev/null || die "needs '$t'"
    done
    [ -e /proc/self/ns/time ] || die "this kernel has no time namespaces"
    cmd_clean_stale

    local id dir sw subnet owner_start
    id="sc$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
    dir="$(state_dir "$id")"
    subnet="10.213.$((16#${id:2:2} % 254 + 1))"
    owner_start="$(start_time "$owner")" || die "owner $owner is not running"
    # The state appears with its owner already in it, so a concurrent clean-stale never sees a
    # cluster without one.
    mkdir -p "$STATE_ROOT"
    local tmp
    tmp="$(mktemp -d "$STATE_ROOT/.new.XXXXXX")"
    printf '%s %s\n' "$owner" "$owner_start" >"$tmp/owner"
    mv -T "$tmp" "$dir"
    printf '%s\n' "$n" >"$dir/nodes"
    printf '%s\n' "$step" >"$dir/clock-step"
    # From here on a failure (or an interruption) removes what was made.
    UP_ID="$id"
    trap 'if [ -n "${UP_ID:-}" ]; then cmd_down "$UP_ID" >/dev/null 2>&1 || true; fi' EXIT

    sw="$id-sw"
    ip netns add "$sw"
    ip -n "$sw" link set lo up
    ip -n "$sw" link add br0 type bridge
    ip -n "$sw" link set br0 up

    {
        grep -v -e "$IFACE" -e '127\.0\.1\.1' /etc/hosts || true
        for k in $(seq 1 "$n"); do
            printf '%s.%d %s-node%d\n' "$subnet" "$k" "$id" "$k"
        done
    } >"$dir/hosts"
    : >"$dir/hostfile.openmpi"
    : >"$dir/hostfile.mpich"
    for k in $(seq 1 "$n"); do
        local ns="$id-node$k" host="$id-node$k"
        ip netns add "$ns"
        ip -n "$sw" link add "v$k" type veth peer name "$IFACE" netns "$ns"
        ip -n "$sw" link set "v$k" master br0 up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$subnet.$k/24" dev "$IFACE"
        ip -n "$ns" link set "$IFACE" up
        printf '%s slots=2\n' "$host" >>"$dir/hostfile.openmpi"
        printf '%s:2\n' "$host" >>"$dir/hostfile.mpich"
        if [ -n "$ipc" ]; then cat /proc/sys/kernel/random/uuid >"$dir/node$k.boot_id"; fi
        setsid nsenter --net="/run/netns/$ns" \
            unshare --uts $ipc --mount --propagation private --time --monotonic="$((k * step))" \
            --fork bash -c "$HOLDER" holder "$host" "$dir/hosts" "$dir/node$k" "$ROOT" \
            </dev/null >"$dir/node$k.log" 2>&1 &
    done
    for k in $(seq 1 "$n"); do
        local tries=0
        until [ -s "$dir/node$k.pid" ]; do
            tries=$((tries + 1))
            [ "$tries" -le 100 ] || die "node $k did not come up: $(cat "$dir/node$k.log")"
            sleep 0.05
        done
    done
    UP_ID=""
    printf '%s\n' "$id"
}

cmd_exec() {
    local id node pid
    id="$(current)"
    node="${1:?exec needs NODE CMD...}"
    shift
    [ $# -gt 0 ] || die "exec needs a command"
    pid="$(holder_pid "$id" "$node")"
    exec nsenter -t "$pid" --net --uts --mount --time --wd="$PWD" -- "$@"
}

cmd_env() {
    local id dir
    id="$(current)"
    dir="$(state_dir "$id")"
    printf 'export SCOPE_CLUSTER=%q\n' "$id"
    case "${1:-}" in
    openmpi)
        printf 'export OMPI_MCA_plm_rsh_agent=%q\n' "$HERE/fake-ssh"
        printf 'export OMPI_MCA_oob_tcp_if_include=%s\n' "$IFACE"
        printf 'export OMPI_MCA_btl_tcp_if_include=%s\n' "$IFACE"
        printf 'export SCOPE_CLUSTER_HOSTFILE=%q\n' "$dir/hostfile.openmpi"
        ;;
    mpich)
        printf 'export HYDRA_LAUNCHER=ssh\n'
        printf 'export HYDRA_LAUNCHER_EXEC=%q\n' "$HERE/fake-ssh"
        printf 'export HYDRA_IFACE=%s\n' "$IFACE"
        printf 'export UCX_NET_DEVICES=%s\n' "$IFACE"
        printf 'export SCOPE_CLUSTER_HOSTFILE=%q\n' "$dir/hostfile.mpich"
        ;;
    *) die "env needs openmpi or mpich" ;;
    esac
}

cmd_info() {
    local id dir n step
    id="$(current)"
    dir="$(state_dir "$id")"
    n="$(cat "$dir/nodes")"
    step="$(cat "$dir/clock-step")"
    printf 'cluster %s: %s nodes, interface %s, state in %s\n' "$id" "$n" "$IFACE" "$dir"
    for k in $(seq 1 "$n"); do
        printf 'node%d %s-node%d %s monotonic+%ds holder %s\n' "$k" "$id" "$k" \
            "$(awk -v h="$id-node$k" '$2 == h {print $1}' "$dir/hosts")" "$((k * step))" \
            "$(cat "$dir/node$k.pid" 2>/dev/null || echo '?')"
    done
}

# down ID: kill every process in the cluster's namespaces, delete the namespaces, the state.
cmd_down() {
    local id="${1:-}"
    [ -n "$id" ] || id="$(current)"
    local dir ns pids
    dir="$(state_dir "$id")"
    for ns in $(ip netns list 2>/dev/null | awk -v p="$id-" 'index($1, p) == 1 {print $1}'); do
        pids="$(ip netns pids "$ns" 2>/dev/null || true)"
        if [ -n "$pids" ]; then
            # shellcheck disable=SC2086 # a list of pids
            kill -KILL $pids 2>/dev/null || true
        fi
    done
    # The holders' parents (unshare --fork) and anything still exiting.
    local k
    for k in $(seq 1 50); do
        local busy=0
        for ns in $(ip netns list 2>/dev/null | awk -v p="$id-" 'index($1, p) == 1 {print $1}'); do
            [ -z "$(ip netns pids "$ns" 2>/dev/null || true)" ] || busy=1
        done
        [ "$busy" = 0 ] && break
        sleep 0.1
    done
    for ns in $(ip netns list 2>/dev/null | awk -v p="$id-" 'index($1, p) == 1 {print $1}'); do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$dir"
    [ -z "$(ip netns list 2>/dev/null | awk -v p="$id-" 'index($1, p) == 1')" ] ||
        die "cluster $id: namespaces left: $(ip netns list | grep "^$id-" | tr '\n' ' ')"
}

# Remove clusters whose owner is gone (and namespaces named like ours with no state at all).
cmd_clean_stale() {
    local d id owner start now
    for d in "$STATE_ROOT"/sc*; do
        [ -d "$d" ] || continue
        id="$(basename "$d")"
        [[ "$id" =~ $NAME_RE ]] || continue
        read -r owner start <"$d/owner" 2>/dev/null || { owner=0; start=0; }
        now="$(start_time "$owner" 2>/dev/null || true)"
        if [ "$now" != "$start" ]; then
            printf 'cluster.sh: removing stale cluster %s (owner %s gone)\n' "$id" "$owner" >&2
            cmd_down "$id"
        fi
    done
    for id in $(ip netns list 2>/dev/null | sed -n 's/^\(sc[0-9a-f]\{6\}\)-.*/\1/p' | sort -u); do
        if [ ! -d "$STATE_ROOT/$id" ]; then
            printf 'cluster.sh: removing orphan namespaces of %s\n' "$id" >&2
            mkdir -p "$STATE_ROOT/$id"
            cmd_down "$id"
        fi
    done
}

main() {
    [ $# -gt 0 ] || usage
    local sub="$1"
    shift
    case "$sub" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    exec) cmd_exec "$@" ;;
    env) cmd_env "$@" ;;
    info) cmd_info "$@" ;;
    clean-stale) cmd_clean_stale ;;
    -h | --help | help) usage ;;
    *) die "unknown command '$sub' (up, down, exec, env, info, clean-stale)" ;;
    esac
}

main "$@"
