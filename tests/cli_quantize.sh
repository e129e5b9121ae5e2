#!/usr/bin/env bash
# --quantize on kd generate, kd eval and kd bench: a random model directory
# runs with its matrices in q8_0 and q4_0; q8_0's loss stays within 0.5% of
# f32's; bad types, kernels the CPU lacks and modes without a quantized path
# are refused.
# usage: cli_quantize.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
. "$(dirname "$0")/support/cli_common.sh" "$@"
make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}
cli_need_assets gpt2/vocab.json gpt2/merges.txt dolly/dolly-open_qa.jsonl

shape='{"n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 128, "vocab_size": 50257}'
echo "{\"model\": $shape}" >"$work/tiny.json"
model="$work/model"
"$make_model" "$work/tiny.json" "$model" "$assets/gpt2" 7 || { echo "FAIL: make_model_dir"; exit 1; }
head -n 12 "$assets/dolly/dolly-open_qa.jsonl" >"$work/data.jsonl"

# generate: the continuation comes out, and the run says what it ran.
for type in q8_0 q4_0; do
    expect 0 generate --model "$model" --prompt "Why owls?" --temperature 0 \
        --max-new-tokens 8 --quantize "$type"
    [ -s "$work/out" ] || fail "generate --quantize $type wrote nothing"
    grep -q "($type)" "$work/err" || fail "generate --quantize $type does not say $type"
done
# Every kernel gives the same greedy text on this model.
expect 0 generate --model "$model" --prompt "Why owls?" --temperature 0 --max-new-tokens 8 \
    --quantize q8_0
cp "$work/out" "$work/best.txt"
KD_QKERNEL=portable expect 0 generate --model "$model" --prompt "Why owls?" --temperature 0 \
    --max-new-tokens 8 --quantize q8_0
cmp -s "$work/out" "$work/best.txt" || fail "the portable kernel generates other text"
expect 2 generate --model "$model" --prompt "hi" --quantize q3_k
grep -q "q3_k" "$work/err" || fail "an unknown type is not named"
KD_QKERNEL=sse9 expect 1 generate --model "$model" --prompt "hi" --quantize q8_0
grep -q "KD_QKERNEL" "$work/err" || fail "an unknown kernel is not named"

# eval: q8_0's loss within 0.5% of f32's; q4_0 runs.
expect 0 eval --model "$model" --data "$work/data.jsonl" --seq 128 --json
cp "$work/out" "$work/f32.json"
expect 0 eval --model "$model" --data "$work/data.jsonl" --seq 128 --json --quantize q8_0
cp "$work/out" "$work/q8.json"
[ "$(json "$work/q8.json" 'd["weights"]')" = q8_0 ] || fail "eval --json does not say q8_0"
f32=$(json "$work/f32.json" 'd["loss"]')
q8=$(json "$work/q8.json" 'd["loss"]')
python3 -c "import sys; sys.exit(abs($q8 - $f32) > 0.005 * $f32)" ||
    fail "q8_0 loss $q8 is not within 0.5% of f32's $f32"
[ "$(json "$work/q8.json" 'd["tokens"]')" = "$(json "$work/f32.json" 'd["tokens"]')" ] ||
    fail "q8_0 evaluated other tokens than f32"
expect 0 eval --model "$model" --data "$work/data.jsonl" --seq 128 --quantize q4_0
expect 2 eval --model "$model" --data "$work/data.jsonl" --quantize f16

# bench: the matrices' size as stored.
expect 0 bench --config "$work/tiny.json" --mode generate --seq 16 --new-tokens 8 --steps 1 \
    --warmup 0 --quantize q8_0 --json
[ "$(json "$work/out" 'd["weights"]')" = q8_0 ] || fail "bench --json does not say q8_0"
[ "$(json "$work/out" 'round(d["matrix_ratio_to_f32"], 4)')" = 0.2656 ] ||
    fail "q8_0 matrices are not 34/128 of f32: $(cat "$work/out")"
expect 0 bench --config "$work/tiny.json" --mode generate --seq 16 --new-tokens 8 --steps 1 \
    --warmup 0 --quantize q4_0 --json
[ "$(json "$work/out" 'round(d["matrix_ratio_to_f32"], 4)')" = 0.1406 ] ||
    fail "q4_0 matrices are not 18/128 of f32: $(cat "$work/out")"
expect 2 bench --config "$work/tiny.json" --mode train --quantize q8_0
cli_finish
