#!/usr/bin/env bash
# The LoRA experiment of docs/lora.md on the dolly assets: a base model is
# trained from scratch on the open_qa records, then fine-tuned on the mixed
# categories with the same steps four ways: every weight, LoRA r=8 on
# attn.c_attn, LoRA r=16 on all four targets, QLoRA r=16 on all four (the
# base's matrices in NF4). One row per run: best
# validation loss on the mixed split, trainable parameters, AdamW state,
# peak RSS (GNU time) and seconds per step (evaluations included).
#
#     bench/lora_experiment.sh [KD] [OUT]     (defaults: build/kd, runs/lora-experiment)
# The scale comes from the environment: LAYERS (2), WIDTH (128), HEADS (4),
# BATCH (8), SEQ (128), BASE_STEPS (150), STEPS (40), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
kd=${1:-build/kd}
out=${2:-runs/lora-experiment}
layers=${LAYERS:-2} width=${WIDTH:-128} heads=${HEADS:-4}
batch=${BATCH:-8} seq=${SEQ:-128} base_steps=${BASE_STEPS:-150} steps=${STEPS:-40}
threads=${THREADS:-2}
mkdir -p "$out"

config() { # FILE DATA STEPS LR [LORA]
    cat >"$1" <<JSON
{"model": {"n_layer": $layers, "n_head": $heads, "n_embd": $width, "n_positions": 1024,
           "vocab_size": 50257},
 "train": {"max_steps": $3, "batch_size": $batch, "seq_len": $seq, "learning_rate": $4,
           "warmup_steps": 5, "eval_interval": 10, "eval_batches": 4, "threads": $threads,
           "seed": 7,
           "validation_fraction": 0.2},
 "data": {"files": ["$2"], "tokenizer": "gpt2", "prompts": []}${5:+, \"lora\": $5}}
JSON
}

echo "date $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)," \
     "$(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model ${layers}x${width}, batch $batch x $seq; base $base_steps steps on open_qa," \
     "then $steps steps on mixed"
config "$out/base.json" dolly/dolly-open_qa.jsonl "$base_steps" 0.002
[ -s "$out/base/model/model.safetensors" ] ||
    "$kd" teacher train --config "$out/base.json" --out "$out/base" --force >/dev/null

run() { # NAME LR [LORA]
    config "$out/$1.json" dolly/dolly-mixed.jsonl "$steps" "$2" "${3:-}"
    /usr/bin/time -f %M -o "$out/$1.rss" "$kd" teacher train --config "$out/$1.json" \
        --init "$out/base/model" --out "$out/$1" --force >/dev/null
    "$kd" estimate --config "$out/$1.json" --json >"$out/$1.estimate"
    /usr/bin/python3 - "$out/$1" "$steps" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, os, sys
run, steps, load = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [json.loads(line) for line in open(run + "/metrics.jsonl")]
estimate = json.load(open(run + ".estimate"))
rss_mb = int(open(run + ".rss").read().split()[-1]) / 1024
print("| %s | %.4f | %d | %.1f MB | %.0f MB | %.2f s | %s |" % (
    os.path.basename(run), min(r["val_loss"] for r in rows if "val_loss" in r), estimate["trainable_params"],
    estimate["optimizer_bytes"] / 1e6, rss_mb, rows[-1]["elapsed_s"] / steps, load))
PY
}

echo "| run | validation loss | trainable | AdamW state | peak RSS | s/step | load |"
echo "|---|---|---|---|---|---|---|"
"$kd" eval --model "$out/base/model" --data dolly/dolly-mixed.jsonl --json >"$out/base.eval" 2>/dev/null ||
    "$kd" eval --model "$out/base/model" --data assets/dolly/dolly-mixed.jsonl --json >"$out/base.eval"
/usr/bin/python3 -c 'import json,sys; print("| base, not fine-tuned (all mixed records) | %.4f | | | | | |" % json.load(open(sys.argv[1]))["loss"])' "$out/base.eval"
run full 0.0005
run lora-r8-c_attn 0.01 '{"rank": 8, "alpha": 16, "targets": ["attn.c_attn"]}'
run lora-r16-all 0.01 '{"rank": 16, "alpha": 32, "targets": ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]}'
run qlora-r16-all 0.01 '{"rank": 16, "alpha": 32, "targets": ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"], "qlora": true}'
