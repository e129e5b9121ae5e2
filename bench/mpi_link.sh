#!/usr/bin/env bash
# Two machines simulated on this one: rank 0 in this network namespace,
# rank 1 in namespace kdpeer, joined by a veth pair whose two ends are capped
# at RATE (tc tbf) and, where the kernel has netem, delayed by DELAY each way.
# Open MPI starts the second rank's daemon through a launcher script
# (plm_rsh_agent) that runs it with `ip netns exec`, and the ranks talk over
# TCP on the veth alone (no shared memory), as two machines on a network.
#
# For each shape it trains kd teacher train as 1 process x 1 thread, then 2
# ranks x 1 thread across the link with the gradient sums overlapped with the
# backward pass (the default) and after it (--no-overlap), the same global
# batch in every case, and prints tokens/s, each 2-rank run's speed-up and
# efficiency against one process, and what the sums cost rank 0 per step.
# Both ranks still share this machine's cores, so compute is as on one
# machine with 2 ranks; only the network is the simulated one.
#
#   bench/mpi_link.sh [--kd build/kd] [--shapes "T D"] [--steps 12] [--skip 2]
#                     [--batch 8] [--seq 128] [--rate 10gbit] [--delay 50us]
# Needs root (namespaces, tc). Leaves nothing behind: the namespace, the
# veth pair and the launcher are removed on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kd=$root/build/kd
shapes="T D"
steps=12
skip=2
batch=8
seq=128
rate=10gbit
delay=50us
while [ $# -gt 0 ]; do
    case $1 in
    --kd) kd=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --skip) skip=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    *) echo "mpi_link.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
source "$root/bench/mpi_common.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
peer=kdpeer
here_ip=10.77.0.1
peer_ip=10.77.0.2
work=$(mktemp -d)

cleanup() {
    ip netns del "$peer" 2>/dev/null || true
    ip link del kdlink0 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# shape_link DEV [NETNS]: the cap (and the delay, where netem exists) on
# one end of the link; prints what it set.
shape_link() {
    local dev=$1 run=()
    [ $# -gt 1 ] && run=(ip netns exec "$2")
    if "${run[@]}" tc qdisc add dev "$dev" root netem delay "$delay" rate "$rate" 2>/dev/null; then
        echo "netem delay $delay rate $rate"
    else
        "${run[@]}" tc qdisc add dev "$dev" root tbf rate "$rate" burst 4mb latency 100ms
        echo "tbf rate $rate (this kernel has no netem: no added delay)"
    fi
}

ip netns add "$peer"
ip link add kdlink0 type veth peer name kdlink1
ip link set kdlink1 netns "$peer"
ip addr add "$here_ip/24" dev kdlink0
ip link set kdlink0 up
ip netns exec "$peer" ip addr add "$peer_ip/24" dev kdlink1
ip netns exec "$peer" ip link set kdlink1 up
ip netns exec "$peer" ip link set lo up
link=$(shape_link kdlink0)
shape_link kdlink1 "$peer" >/dev/null

# The launcher Open MPI calls as `AGENT HOST COMMAND...` to start its daemon
# on HOST: the peer's in the namespace, under a host name of its own.
cat >"$work/agent" <<AGENT
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
shift
exec ip netns exec $peer unshare --uts /bin/sh -c "hostname $peer; \$*"
AGENT
chmod +x "$work/agent"
printf '%s slots=1\n%s slots=1\n' "$here_ip" "$peer_ip" >"$work/hosts"

# link_bytes: bytes this side has sent over the link so far.
link_bytes() {
    cat /sys/class/net/kdlink0/statistics/tx_bytes
}

# across_link OUT ARGS...: kd teacher train ARGS on 2 ranks, one each side.
across_link() {
    local out=$1
    shift
    mpirun -np 2 --hostfile "$work/hosts" --bind-to none \
        --mca plm_rsh_agent "$work/agent" --mca btl self,tcp \
        --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
        -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
        "$kd" teacher train --out "$out" "$@" >/dev/null 2>"$out.err" ||
        { echo "mpi_link.sh: the 2-rank run failed:" >&2; tail -n 5 "$out.err" >&2; exit 1; }
}

machine_line
echo "link: veth between two network namespaces, $link"
printf '%-5s %10s %14s %8s %14s %8s   %s\n' shape "1x1 tok/s" "overlap tok/s" "eff" \
    "after tok/s" "eff" "comm/step (overlap | after)"
for shape in $shapes; do
    write_config "$shape" 1 "$work/one.json"
    "$kd" teacher train --config "$work/one.json" --out "$work/$shape-1x1" >/dev/null 2>&1
    sent_before=$(link_bytes)
    across_link "$work/$shape-during" --config "$work/one.json"
    across_link "$work/$shape-after" --config "$work/one.json" --no-overlap
    carried=$(( ($(link_bytes) - sent_before) / 1000000 ))
    one=$(median_rate "$work/$shape-1x1")
    during=$(median_rate "$work/$shape-during")
    after=$(median_rate "$work/$shape-after")
    efficiency() { python3 -c "print('%.0f%%' % (100 * $1 / $one / 2))"; }
    printf '%-5s %10s %14s %8s %14s %8s   %s | %s\n' "$shape" "$one" "$during" \
        "$(efficiency "$during")" "$after" "$(efficiency "$after")" \
        "$(comm_cost "$work/$shape-during.err")" "$(comm_cost "$work/$shape-after.err")"
    echo "      the link carried $carried MB from this side in the two 2-rank runs"
done
