#!/usr/bin/env bash
# Generation and prefill speed of f32 against q8_0 and q4_0 weights on the
# distilgpt2 shape (6 layers, 768 wide, random weights): batch 1, a 128-token
# prompt then 128 generated tokens, 2 threads, through `kd bench --mode
# generate` (the code kd generate runs). Prints the machine, the commit and
# the load with the numbers, then each type's decode and prefill tokens/s,
# the matrices' size, and the ratios to f32. Last, prefill per CPU second
# with one thread (bench_qprefill_speed, the three types in turns), which a
# loaded machine hardly changes.
# usage: bench/quant_speed.sh [BUILD_DIR] [CONFIG] [STEPS]
set -eu
build=${1:-build}
config=${2:-configs/distilgpt2.json}
steps=${3:-5}
cd "$(dirname "$0")/.."

echo "machine: $(lscpu | sed -n 's/^Model name: *//p')"
echo "flags:   $(lscpu | sed -n 's/^Flags: *//p' | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni)$' | tr '\n' ' ')"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "config:  $config, 128-token prompt + 128 new tokens, batch 1, 2 threads, median of $steps"
printf '%-6s %12s %14s %10s %8s %8s %s\n' type decode_tok/s prefill_tok/s matrix_MB decode_x prefill_x load
f32_decode=0
f32_prefill=0
for type in f32 q8_0 q4_0; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    line=$("$build/kd" bench --config "$config" --mode generate --seq 128 --new-tokens 128 \
        --threads 2 --steps "$steps" --warmup 1 --quantize "$type" --json)
    read -r decode prefill mb < <(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["tokens_per_s"], d["prefill_tokens_per_s"], d.get("matrix_mb", 0))' "$line")
    if [ "$type" = f32 ]; then
        f32_decode=$decode
        f32_prefill=$prefill
    fi
    python3 -c '
import sys
t, d, p, mb, fd, fp, load = sys.argv[1:]
print("%-6s %12.1f %14.1f %10s %8.2f %8.2f %s" % (t, float(d), float(p),
      "%.1f" % float(mb) if float(mb) else "-", float(d) / float(fd), float(p) / float(fp), load))
' "$type" "$decode" "$prefill" "$mb" "$f32_decode" "$f32_prefill" "$load"
done
echo "prefill per CPU second, 1 thread, load $(cut -d' ' -f1 /proc/loadavg):"
"$build/bench_qprefill_speed" 1 128 "$steps"
