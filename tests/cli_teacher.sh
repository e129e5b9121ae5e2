#!/usr/bin/env bash
# kd teacher train and kd eval end to end on a tiny model: usage errors (2),
# bad input (1), fine-tuning an HF-style directory (--init), the run
# directory layout, --stop-after / --resume through the CLI, and the memory
# check that refuses a run that cannot fit.
# usage: cli_teacher.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}
cli_need_assets gpt2/vocab.json
cli_owl_records
cat >"$work/run.json" <<JSON
{"train": {"max_steps": 6, "batch_size": 4, "seq_len": 32, "eval_interval": 3, "threads": 2,
           "warmup_steps": 1, "learning_rate": 0.003},
 "data": {"files": ["$work/data.jsonl"], "tokenizer": "$assets/gpt2", "prompts": ["Why owls?"]}}
JSON
cat >"$work/tiny.json" <<'JSON'
{"model": {"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}}
JSON
"$make_model" "$work/tiny.json" "$work/init" "$assets/gpt2" 3 || { echo "FAIL: make_model_dir"; exit 1; }

expect 2 teacher train
expect 2 teacher train --config "$work/run.json" --max-steps -1
expect 2 teacher train --config "$work/run.json" --bogus
expect 0 teacher train --help
expect 1 teacher train --config "$work/missing.json"
echo '[1, 2]' >"$work/array.json"
expect 1 teacher train --config "$work/array.json"
grep -q "must be a JSON object" "$work/err" || fail "array config: $(cat "$work/err")"
printf '{"train": {"batch_size": ' >"$work/broken.json"
expect 1 teacher train --config "$work/broken.json"
grep -q "broken.json:1:" "$work/err" || fail "broken config should name line and column"
echo '{"train": {"bogus": 1}}' >"$work/unknown.json"
expect 1 estimate --config "$work/unknown.json"
grep -q "train.bogus" "$work/err" || fail "unknown key not named: $(cat "$work/err")"
expect 1 teacher train --config "$work/run.json"   # no model section and no --init
grep -q 'no "model" section' "$work/err" || fail "missing-model message: $(cat "$work/err")"

# Fine-tune the HF-style directory, stopping after step 2, then resume.
out="$work/run"
expect 0 teacher train --config "$work/run.json" --init "$work/init" --out "$out" --stop-after 2
grep -Eq '"step":[[:space:]]*2,' "$out/last/state.json" || fail "checkpoint is not at step 2"
expect 0 teacher train --config "$work/run.json" --init "$work/init" --out "$out" --resume
for f in model/config.json model/model.safetensors model/vocab.json last/optimizer.safetensors \
         last/state.json metrics.jsonl config.json samples.md; do
    [ -s "$out/$f" ] || fail "run directory lacks $f"
done
[ "$(grep -c '"type":"eval"' "$out/metrics.jsonl")" -eq 2 ] ||
    fail "metrics.jsonl should hold 2 evaluations"
expect 0 eval --model "$out/model" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["loss"] > 0 and d["ppl"] > 1' \
    "$work/out" || fail "kd eval --json: $(cat "$work/out")"
expect 1 eval --model "$work/nowhere"

# A model whose training state cannot fit in memory is refused up front.
cat >"$work/huge.json" <<JSON
{"model": {"n_layer": 48, "n_head": 32, "n_embd": 4096, "n_positions": 64, "vocab_size": 50257},
 "train": {"max_steps": 1, "batch_size": 4, "seq_len": 32},
 "data": {"files": ["$work/data.jsonl"], "tokenizer": "$assets/gpt2"}}
JSON
expect 1 teacher train --config "$work/huge.json" --out "$work/huge"
grep -q "GB" "$work/err" || fail "memory refusal should state the estimate: $(cat "$work/err")"

cli_finish
