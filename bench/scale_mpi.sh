#!/usr/bin/env bash
# Data-parallel scaling on one machine: kd teacher train as 1 process x 1
# thread, 2 ranks x 1 thread (mpirun) and 1 process x 2 threads, for the
# teacher-tiny (T) and distilgpt2 (D) shapes on the dolly open_qa records,
# the same global batch in every case. Prints training tokens/s (the median
# of the per-step rates after --skip steps), the 2-rank speed-up and
# efficiency, and what the gradient sums cost rank 0 per step (bytes sent,
# milliseconds, share of the step) as kd reports it.
#
#   bench/scale_mpi.sh [--kd build/kd] [--shapes "T D"] [--steps 12] [--skip 2]
#                      [--batch 8] [--seq 128]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kd=$root/build/kd
shapes="T D"
steps=12
skip=2
batch=8
seq=128
while [ $# -gt 0 ]; do
    case $1 in
    --kd) kd=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --skip) skip=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    *) echo "scale_mpi.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source "$root/bench/mpi_common.sh"

machine_line
printf '%-5s %14s %14s %14s %8s %11s %14s\n' shape "1x1 tok/s" "2 ranks tok/s" "1x2thr tok/s" speedup efficiency "comm/step"
for shape in $shapes; do
    write_config "$shape" 1 "$work/one.json"
    write_config "$shape" 2 "$work/two.json"
    "$kd" teacher train --config "$work/one.json" --out "$work/$shape-1x1" >/dev/null 2>&1
    mpirun -np 2 --oversubscribe --bind-to none "$kd" teacher train --config "$work/one.json" \
        --out "$work/$shape-2x1" >/dev/null 2>"$work/$shape-2x1.err"
    "$kd" teacher train --config "$work/two.json" --out "$work/$shape-1x2" >/dev/null 2>&1
    one=$(median_rate "$work/$shape-1x1")
    ranks=$(median_rate "$work/$shape-2x1")
    threads=$(median_rate "$work/$shape-1x2")
    comm=$(comm_cost "$work/$shape-2x1.err")
    speedup=$(python3 -c "print('%.2fx' % ($ranks / $one))")
    efficiency=$(python3 -c "print('%.0f%%' % (100 * $ranks / $one / 2))")
    printf '%-5s %14s %14s %14s %8s %11s   %s\n' "$shape" "$one" "$ranks" "$threads" "$speedup" \
        "$efficiency" "$comm"
done
