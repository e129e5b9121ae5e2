#!/usr/bin/env bash
# Trains the tiny teacher (configs/teacher-tiny.json) on the dolly records for
# --steps optimizer steps twice, in fp32 and in bf16, from the same seed and
# data order, and compares the two loss curves: the training loss of every
# evaluation window and the validation loss, with their relative differences.
# Fails (exit 1) when the final ones differ by more than --tolerance (0.01).
#
#   bench/bf16_loss_tracking.sh [--kd build/kd] [--steps 200] [--out DIR]
#                               [--tolerance 0.01] [--threads 2]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kd=$root/build/kd
steps=200 tolerance=0.01 threads=2
out=$root/build/bf16-loss-tracking
while [ $# -gt 0 ]; do
    case $1 in
    --kd) kd=$2 ;;
    --steps) steps=$2 ;;
    --out) out=$2 ;;
    --tolerance) tolerance=$2 ;;
    --threads) threads=$2 ;;
    *) echo "bf16_loss_tracking.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2
done

for precision in fp32 bf16; do
    start=$(date +%s)
    "$kd" teacher train --config "$root/configs/teacher-tiny.json" --max-steps "$steps" \
        --threads "$threads" --precision "$precision" --out "$out/$precision" --force \
        >"$out-$precision.log" 2>&1 ||
        { echo "bf16_loss_tracking.sh: the $precision run failed:" >&2; tail -n 5 "$out-$precision.log" >&2; exit 1; }
    echo "$precision: $(( $(date +%s) - start )) s"
done

/usr/bin/python3 - "$out" "$tolerance" <<'PY'
import json, sys
out, tolerance = sys.argv[1], float(sys.argv[2])
def curve(precision):
    return [json.loads(line) for line in open(f"{out}/{precision}/metrics.jsonl")]
fp32, bf16 = curve("fp32"), curve("bf16")
print("step  train fp32  train bf16   diff    val fp32    val bf16    diff")
worst = 0.0
for a, b in zip(fp32, bf16):
    assert a["step"] == b["step"]
    dt = (b["train_loss"] - a["train_loss"]) / a["train_loss"]
    dv = (b["val_loss"] - a["val_loss"]) / a["val_loss"]
    print(f'{a["step"]:4d}  {a["train_loss"]:10.4f}  {b["train_loss"]:10.4f}  {dt:+.2%}'
          f'  {a["val_loss"]:10.4f}  {b["val_loss"]:10.4f}  {dv:+.2%}')
    last = max(abs(dt), abs(dv))
print(f"after step {fp32[-1]['step']}: the curves differ by at most {last:.2%} "
      f"(tolerance {tolerance:.0%})")
sys.exit(0 if last <= tolerance else 1)
PY
