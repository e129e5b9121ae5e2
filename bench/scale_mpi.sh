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

shape_config() {
    case $1 in
    T) echo "$root/configs/teacher-tiny.json" ;;
    D) echo "$root/configs/distilgpt2.json" ;;
    *) echo "scale_mpi.sh: unknown shape $1 (T or D)" >&2; exit 2 ;;
    esac
}

# write_config SHAPE THREADS OUT: the shape's model, a short run with one
# evaluation (one batch) at its end.
write_config() {
    python3 - "$(shape_config "$1")" "$2" "$3" "$steps" "$batch" "$seq" "$root/assets" <<'PY'
import json, sys
source, threads, out, steps, batch, seq, assets = sys.argv[1:]
with open(source) as f:
    model = json.load(f)["model"]
config = {"model": model,
          "train": {"max_steps": int(steps), "batch_size": int(batch), "seq_len": int(seq),
                    "grad_accum": 1, "eval_batches": 1, "log_every": 1, "warmup_steps": 1,
                    "learning_rate": 3e-4, "threads": int(threads), "seed": 3},
          "data": {"files": [assets + "/dolly/dolly-open_qa.jsonl"], "tokenizer": assets + "/gpt2"}}
with open(out, "w") as f:
    json.dump(config, f)
PY
}

# median_rate RUN: the median tokens/s of the training rows after --skip.
median_rate() {
    python3 - "$1/metrics.jsonl" "$skip" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
rates = [r["tokens_per_s"] for r in rows if r["type"] == "train" and r["step"] > int(sys.argv[2])]
print("%.0f" % statistics.median(rates))
PY
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; $(date -u '+%F %H:%M UTC'); commit $(git -C "$root" rev-parse --short HEAD); load $(cut -d' ' -f1-3 /proc/loadavg)"
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
    comm=$(sed -n 's/^data-parallel: 2 ranks; per step \(.*\)$/\1/p' "$work/$shape-2x1.err")
    speedup=$(python3 -c "print('%.2fx' % ($ranks / $one))")
    efficiency=$(python3 -c "print('%.0f%%' % (100 * $ranks / $one / 2))")
    printf '%-5s %14s %14s %14s %8s %11s   %s\n' "$shape" "$one" "$ranks" "$threads" "$speedup" \
        "$efficiency" "$comm"
done
