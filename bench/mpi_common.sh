# What bench/scale_mpi.sh and bench/mpi_link.sh share, sourced after they
# set root, steps, skip, batch and seq: the shapes' configs and the median
# training rate of a run.

shape_config() {
    case $1 in
    T) echo "$root/configs/teacher-tiny.json" ;;
    D) echo "$root/configs/distilgpt2.json" ;;
    *) echo "$(basename "$0"): unknown shape $1 (T or D)" >&2; exit 2 ;;
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

# comm_cost ERR: what kd reported the gradient sums cost rank 0 per step.
comm_cost() {
    sed -n 's/^data-parallel: [0-9]* ranks; per step \(.*\)$/\1/p' "$1"
}

machine_line() {
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; $(date -u '+%F %H:%M UTC'); commit $(git -C "$root" rev-parse --short HEAD); load $(cut -d' ' -f1-3 /proc/loadavg)"
}
