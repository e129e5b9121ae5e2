#!/usr/bin/env bash
# Generation speed at batch 1 with the code `kd generate` runs: a randomly
# initialised model of CONFIG's shape, a raw prompt of about 500 tokens, 256
# new tokens with the default sampling, three runs. Prints kd generate's
# speed lines (prefill tokens/s, decode tokens/s, sampling ms/token).
# usage: bench/generate_speed.sh [CONFIG] [BUILD_DIR] [ASSETS_DIR]
set -eu
config=${1:-configs/teacher-tiny.json}
build=${2:-build}
assets=${3:-assets}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/tests/make_model_dir" "$config" "$work/model" "$assets/gpt2" 1
prompt=$(printf 'The quick brown fox jumps over the lazy dog. %.0s' $(seq 50))
echo "config $config, threads ${OMP_NUM_THREADS:-$(nproc)}, $(uptime | sed 's/.*load/load/')"
for run in 1 2 3; do
    "$build/kd" generate --model "$work/model" --raw --prompt "$prompt" \
        --max-new-tokens 256 --seed "$run" 2>&1 >/dev/null | grep "new tokens"
done
