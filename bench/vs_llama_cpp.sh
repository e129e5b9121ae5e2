#!/usr/bin/env bash
# kd against llama.cpp on the same GGUF files: prefill and generation
# tokens/s at batch 1, a 128-token prompt then 128 greedy tokens, the same
# number of threads. llama.cpp is the prebuilt one of node-llama-cpp
# (npm install --omit=optional --no-audit --no-fund --prefix tests/llama_cpp). MODEL_DIR defaults to a
# randomly initialised model of the distilgpt2 shape (6 layers, 768 wide);
# each runtime runs RUNS times per file and the median is printed. kd runs
# in fp32 (--precision fp32), as llama.cpp runs an f32 file: auto would
# pick bf16 for the f32 file on a CPU with native bf16.
# usage: bench/vs_llama_cpp.sh [MODEL_DIR] [THREADS] [RUNS] [BUILD_DIR] [ASSETS_DIR] [TYPES]
# (TYPES: the files to export and time, default "f32 q8_0 q4_0")
set -eu
model=${1:-}
threads=${2:-2}
runs=${3:-3}
build=${4:-build}
assets=${5:-assets}
types=${6:-f32 q8_0 q4_0}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$here/tests/llama_cpp/node_modules/node-llama-cpp" ] ||
    { echo "install llama.cpp first: npm install --omit=optional --no-audit --no-fund --prefix tests/llama_cpp" >&2; exit 1; }
if [ -z "$model" ]; then
    model=$work/model
    "$build/tests/make_model_dir" "$here/configs/distilgpt2.json" "$model" "$assets/gpt2" 1
fi
export OMP_NUM_THREADS=$threads

# A prompt of exactly 128 tokens: 12 sentences of 10, then 8 words.
prompt="$(printf 'The quick brown fox jumps over the lazy dog. %.0s' $(seq 12))One two three four five six seven eight"
printf '%s' "$prompt" >"$work/prompt.txt"
"$build/kd" tokenize --vocab "$assets/gpt2" --file "$work/prompt.txt" |
    python3 -c 'import json, sys; ids = sys.stdin.read().split(); assert len(ids) == 128, len(ids); print(json.dumps(list(map(int, ids))))' \
    >"$work/prompt.json"

median() { python3 -c 'import statistics, sys; print("%.1f" % statistics.median(map(float, sys.argv[1:])))' "$@"; }

echo "model $model, $threads threads, $runs runs, $(uptime | sed 's/.*load/load/')"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p')"
printf '| file | MB | kd prefill tok/s | llama.cpp prefill | ratio | kd generation tok/s | llama.cpp generation | ratio |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
for type in $types; do
    file=$work/$type.gguf
    "$build/kd" export --model "$model" --out "$file" --type "$type" 2>/dev/null
    kd_prefill=() kd_gen=() llama_prefill=() llama_gen=()
    for run in $(seq "$runs"); do
        line=$("$build/kd" generate --model "$file" --raw --prompt "$prompt" --temperature 0 \
            --max-new-tokens 128 --precision fp32 2>&1 >/dev/null | grep "new tokens")
        kd_prefill+=("$(sed 's/.*(\([0-9.]*\) tokens\/s).*/\1/' <<<"$line")")
        kd_gen+=("$(sed 's/.*decode \([0-9.]*\) tokens\/s.*/\1/' <<<"$line")")
        json=$(node "$here/tests/llama_cpp/check.mjs" bench "$file" "$work/prompt.json" 128 "$threads")
        llama_prefill+=("$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["prefill_tokens_per_s"])' "$json")")
        llama_gen+=("$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["generation_tokens_per_s"])' "$json")")
    done
    kp=$(median "${kd_prefill[@]}") kg=$(median "${kd_gen[@]}")
    lp=$(median "${llama_prefill[@]}") lg=$(median "${llama_gen[@]}")
    printf '| %s | %.1f | %s | %s | %.2fx | %s | %s | %.2fx |\n' "$type" \
        "$(python3 -c "print($(stat -c %s "$file") / 1e6)")" "$kp" "$lp" \
        "$(python3 -c "print($kp / $lp)")" "$kg" "$lg" "$(python3 -c "print($kg / $lg)")"
done
