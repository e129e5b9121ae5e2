#!/usr/bin/env bash
# Non-finite numbers in kd teacher train. Weights holding Inf or NaN are
# refused at load, naming the tensor. Weights that are finite but overflow
# (position 40's row of wpe at 3e38, so LayerNorm's sum becomes Inf there)
# give a NaN loss on every step whose batch reaches position 40, which only
# the long examples do:
#   train.nonfinite = "stop" (default): exit 1 naming the step; last/ and
#     model/ keep the last good evaluation's, and load;
#   train.nonfinite = "skip": the step is dropped, leaving the parameters and
#     AdamW state exactly as before it, logged on stderr and counted in
#     metrics.jsonl; too many such steps in a row stop the run anyway.
# usage: cli_fault_nan.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
kd=$1
assets=$2
make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}
source "$(dirname "${BASH_SOURCE[0]}")/fault_common.sh"
poison() { python3 "$(dirname "${BASH_SOURCE[0]}")/poison_row.py" "$1" transformer.wpe.weight 40 "$2"; }

write_train_fixture 16 4
# 24-token examples, and every eighth one of 57 tokens (past position 40).
short='"response": "Owls hunt at night."'
long='"response": "Zebras graze on the open plains of Africa in large herds, and their stripes may confuse biting flies, keep them cool, and help the foals find their mothers in a crowd."'
sed "s/\"response\": \"[^\"]*\"/$short/; 5~8s/$short/$long/" "$work/data.jsonl" >"$work/some-long.jsonl"
sed "s/\"response\": \"[^\"]*\"/$long/" "$work/data.jsonl" >"$work/all-long.jsonl"
# Sequences of 64, and no samples.md prompts: generating would pass position 40.
sed -i 's/"seq_len": 32/"seq_len": 64/; s/"prompts": \[[^]]*\]/"prompts": []/' "$work/run.json"
"$make_model" "$work/run.json" "$work/init" "$assets/gpt2" 3 || { echo "FAIL: make_model_dir"; exit 1; }
sed 's/"eval_batches": 1,/"eval_batches": 1, "nonfinite": "skip", "nonfinite_max_skips": 3,/' \
    "$work/run.json" >"$work/skip.json"
train() { "$kd" teacher train --init "$work/overflow" "$@" >/dev/null 2>"$work/err"; }

# Inf and NaN weights are refused when the model loads.
for value in inf nan; do
    cp -r "$work/init" "$work/$value"
    poison "$work/$value/model.safetensors" "$value"
    "$kd" eval --model "$work/$value" --data "$work/eval.jsonl" >/dev/null 2>"$work/err"
    code=$?
    [ "$code" -eq 1 ] || fail "kd eval of $value weights exited $code"
    grep -q "tensor wpe.weight: element .* is -*$value" "$work/err" ||
        fail "the refusal of $value weights should name the tensor: $(tail -n 1 "$work/err")"
    "$kd" teacher train --config "$work/run.json" --init "$work/$value" --out "$work/run-$value" \
        >/dev/null 2>"$work/err"
    [ $? -eq 1 ] && grep -q "wpe.weight" "$work/err" ||
        fail "kd teacher train --init with $value weights: $(tail -n 1 "$work/err")"
done

cp -r "$work/init" "$work/overflow"
poison "$work/overflow/model.safetensors" 3e38

# stop: the run ends at the first bad step.
train --config "$work/run.json" --data "$work/some-long.jsonl" --out "$work/stop"
code=$?
last=$(tail -n 1 "$work/err")
[ "$code" -eq 1 ] || fail "a NaN loss should stop the run with exit 1, got $code: $last"
bad=$(sed -n 's/^kd teacher train: step \([0-9]*\): loss -*nan.*not finite; stopping.*/\1/p' <<<"$last")
if [ -z "$bad" ]; then
    fail "the error should name the step and the NaN loss: $last"
    bad=0
fi
good=$(( (bad - 1) / 4 * 4 ))   # the last evaluation before it
if [ "$good" -gt 0 ]; then
    grep -Eq "\"step\":[[:space:]]*$good," "$work/stop/last/state.json" ||
        fail "last/ should hold the checkpoint of step $good, before the NaN at step $bad"
    "$kd" eval --model "$work/stop/model" --data "$work/eval.jsonl" >/dev/null 2>&1 ||
        fail "the best model kept after the NaN does not load"
else
    [ ! -e "$work/stop/last" ] || fail "a checkpoint appeared although step $bad was the first bad one"
fi

# skip: the same step is dropped and the run completes.
train --config "$work/skip.json" --data "$work/some-long.jsonl" --out "$work/skip" ||
    fail "skip mode should finish: $(tail -n 1 "$work/err")"
grep -q "^step $bad: loss -*nan.*step skipped" "$work/err" || fail "step $bad was not reported skipped"
skipped=$(grep -c "step skipped" "$work/err")
python3 - "$work/skip/metrics.jsonl" "$skipped" <<'PY' || fail "metrics.jsonl should count $skipped skipped steps and stay finite"
import json, math, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
ok = rows[-1]["skipped_steps"] == int(sys.argv[2]) and all(
    isinstance(r["val_loss"], float) and math.isfinite(r["val_loss"])
    for r in rows if r["type"] == "eval")
sys.exit(not ok)
PY
"$kd" eval --model "$work/skip/model" --data "$work/eval.jsonl" >/dev/null 2>&1 ||
    fail "the model trained past skipped steps does not load"
# A skipped step changes nothing: stopped right after it, the checkpoint
# equals one stopped just before it.
train --config "$work/skip.json" --data "$work/some-long.jsonl" --out "$work/before" \
    --stop-after $((bad - 1)) || fail "stop after step $((bad - 1)): $(tail -n 1 "$work/err")"
train --config "$work/skip.json" --data "$work/some-long.jsonl" --out "$work/after" \
    --stop-after "$bad" || fail "stop after step $bad: $(tail -n 1 "$work/err")"
for f in model.safetensors optimizer.safetensors; do
    cmp -s "$work/before/last/$f" "$work/after/last/$f" || fail "the skipped step $bad changed $f"
done

# A checkpoint whose AdamW state is not finite, or has a negative second
# moment, is refused by --resume, naming the tensor.
for damage in adam_m:nan adam_v:-1; do
    tensor=${damage%:*}
    cp -r "$work/before" "$work/damaged"
    python3 "$(dirname "${BASH_SOURCE[0]}")/poison_row.py" "$work/damaged/last/optimizer.safetensors" \
        "$tensor" 5 "${damage#*:}"
    train --config "$work/skip.json" --data "$work/some-long.jsonl" --out "$work/damaged" --resume
    [ $? -eq 1 ] && grep -q "optimizer.safetensors: tensor $tensor: element 5 is" "$work/err" ||
        fail "resuming with $damage in the optimizer state: $(tail -n 1 "$work/err")"
    rm -rf "$work/damaged"
done

# skip, but every step is bad: the run stops after the limit.
train --config "$work/skip.json" --data "$work/all-long.jsonl" --out "$work/all"
code=$?
[ "$code" -eq 1 ] || fail "endless NaN steps should stop the run, exit $code"
grep -q "stopping after 4 such steps in a row" "$work/err" ||
    fail "the stop should say how many steps in a row: $(tail -n 1 "$work/err")"
[ "$(grep -c "step skipped" "$work/err")" -eq 3 ] || fail "3 steps should be skipped first"

sed 's/"nonfinite": "skip"/"nonfinite": "ignore"/' "$work/skip.json" >"$work/bad.json"
"$kd" teacher train --config "$work/bad.json" --out "$work/bad" >/dev/null 2>"$work/err"
[ $? -eq 1 ] && grep -q 'train.nonfinite must be one of "stop", "skip"' "$work/err" ||
    fail "an unknown nonfinite policy: $(tail -n 1 "$work/err")"
finish cli_fault_nan
