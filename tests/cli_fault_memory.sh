#!/usr/bin/env bash
# kd eval and kd teacher cache refuse, before loading the model, work whose
# memory (weights plus the activations of one batch) exceeds this machine,
# stating the estimate; kd teacher train's refusal is in cli_teacher.sh.
# The model is small (4M parameters) but its attention at batch 256 x 1024
# with 32 heads needs hundreds of GB, more than any machine this runs on.
# usage: cli_fault_memory.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
kd=$1
assets=$2
make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}
source "$(dirname "${BASH_SOURCE[0]}")/fault_common.sh"

write_train_fixture 1 1
sed -i 's/"seq_len": 32/"seq_len": 1024/' "$work/run.json"
cat >"$work/wide.json" <<'JSON'
{"model": {"n_layer": 12, "n_head": 32, "n_embd": 64, "n_positions": 1024, "vocab_size": 50257}}
JSON
"$make_model" "$work/wide.json" "$work/wide" "$assets/gpt2" 3 || { echo "FAIL: make_model_dir"; exit 1; }

# refused WHAT COMMAND...: exit 1 with the estimate, and quickly enough that
# nothing was allocated (a run that tried would be killed or take minutes).
refused() {
    local what=$1
    shift
    "$kd" "$@" >/dev/null 2>"$work/err"
    local code=$?
    [ "$code" -eq 1 ] || fail "kd $1 $2 exited $code, expected 1: $(tail -n 1 "$work/err")"
    grep -q "$what needs about [0-9.]* GB .* but this machine has [0-9.]* GB" "$work/err" ||
        fail "kd $1 $2 should state the estimate: $(tail -n 1 "$work/err")"
}
refused evaluation eval --model "$work/wide" --data "$work/eval.jsonl" --batch 256
refused "the teacher cache" teacher cache --model "$work/wide" --config "$work/run.json" \
    --batch 256 --out "$work/cache"
[ ! -e "$work/cache/manifest.json" ] || fail "a refused cache wrote a manifest"

# The same model at batch 1 x 64 fits and runs.
"$kd" eval --model "$work/wide" --data "$work/eval.jsonl" --batch 1 --seq 64 >/dev/null 2>"$work/err" ||
    fail "kd eval at batch 1: $(tail -n 1 "$work/err")"
finish cli_fault_memory
