#!/usr/bin/env bash
# Full fine-tuning against LoRA and QLoRA on the distilgpt2 shape (6 x 768,
# batch 4, seq 256, 2 threads): median step time and peak RSS of kd bench
# --mode train, each configuration in its own process; then the gpt2-large
# shape (36 x 1280, 774M parameters): kd estimate for full fine-tuning, LoRA
# and QLoRA, and kd bench measuring LoRA and QLoRA steps on random weights at
# batch 1, seq 256.
# Prints the machine, the load, the commit and one row per run.
#
#     bench/lora_bench.sh [KD] [STEPS]      (defaults: build/kd, 5 timed steps)
#     LARGE=0 bench/lora_bench.sh           skips the gpt2-large runs
set -euo pipefail
cd "$(dirname "$0")/.."
kd=${1:-build/kd}
steps=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
all=attn.c_attn,attn.c_proj,mlp.c_fc,mlp.c_proj

echo "date    $(date -u +%Y-%m-%dT%H:%MZ)  commit $(git rev-parse --short HEAD)"
echo "cpu     $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores;" \
     "$(grep -o -w -E 'avx2|fma|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before the runs"

row() { # NAME ARGS...: one kd bench --mode train run
    local name=$1
    shift
    "$kd" bench --mode train --threads 2 --warmup 1 --steps "$steps" --json "$@" >"$work/out"
    /usr/bin/python3 - "$name" "$work/out" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
print("%-28s step %8.0f ms  peak RSS %7.0f MB  trainable %11.0f  base %7.1f MB  AdamW %7.1f MB"
      "  load %s" % (sys.argv[1], d["step_ms"], d["peak_rss_mb"], d["trainable_params"],
                     d["base_mb"], d["optimizer_mb"], sys.argv[3]))
PY
}

distil=(--config configs/distilgpt2.json --batch 4 --seq 256)
row "full fine-tuning" "${distil[@]}"
row "LoRA r=8 attn.c_attn" "${distil[@]}" --lora-rank 8
row "LoRA r=16 all four" "${distil[@]}" --lora-rank 16 --lora-targets "$all"
row "QLoRA r=16 all four" "${distil[@]}" --lora-rank 16 --lora-targets "$all" --qlora

[ "${LARGE:-1}" = 1 ] || exit 0
large='"model": {"n_layer": 36, "n_head": 20, "n_embd": 1280, "n_positions": 1024, "vocab_size": 50257}'
echo "{$large, \"train\": {\"batch_size\": 1, \"seq_len\": 256, \"threads\": 2}}" >"$work/large.json"
echo "{$large, \"train\": {\"batch_size\": 1, \"seq_len\": 256, \"threads\": 2}," \
     "\"lora\": {\"rank\": 16, \"targets\": [\"c_attn\", \"c_proj\", \"c_fc\"]}}" >"$work/large_lora.json"
echo "{$large, \"train\": {\"batch_size\": 1, \"seq_len\": 256, \"threads\": 2}," \
     "\"lora\": {\"rank\": 16, \"targets\": [\"c_attn\", \"c_proj\", \"c_fc\"], \"qlora\": true}}" \
     >"$work/large_qlora.json"
for config in large large_lora large_qlora; do
    "$kd" estimate --config "$work/$config.json" --no-timing --json >"$work/out"
    /usr/bin/python3 - "$config" "$work/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
print("estimate %-19s total %6.2f GB (weights %.2f, gradients %.2f, AdamW %.2f, activations %.2f)"
      "  trainable %.0f" % (sys.argv[1], d["total_bytes"] / 1e9, d["weights_bytes"] / 1e9,
      d["grads_bytes"] / 1e9, d["optimizer_bytes"] / 1e9, d["activation_bytes"] / 1e9,
      d["trainable_params"]))
PY
done
echo "{$large}" >"$work/large_model.json"
row "gpt2-large LoRA r=16 all" --config "$work/large_model.json" --batch 1 --seq 256 \
    --lora-rank 16 --lora-targets "$all"
row "gpt2-large QLoRA r=16 all" --config "$work/large_model.json" --batch 1 --seq 256 \
    --lora-rank 16 --lora-targets "$all" --qlora
