# What the CLI test scripts share; each sources it first:
#   . "$(dirname "$0")/support/cli_common.sh" "$@"
# Sets kd and assets from the script's arguments (KD ASSETS_DIR), makes a
# scratch directory $work (kept when KEEP is set, to look at afterwards) and
# counts failures; cli_finish prints "ok" and exits with the verdict.
kd=$1
assets=$2
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# cli_need_assets FILE...: fails the test at once unless each FILE is in
# $assets (the repository carries them all).
cli_need_assets() {
    for file in "$@"; do
        [ -f "$assets/$file" ] || { echo "FAIL: no $file in $assets"; exit 1; }
    done
}

# cli_owl_records: $work/data.jsonl, 24 short open_qa records.
cli_owl_records() {
    for i in $(seq 1 24); do
        printf '{"instruction": "Question %d about owls?", "context": "", "response": "Owls hunt at night, answer %d.", "category": "open_qa"}\n' "$i" "$i"
    done >"$work/data.jsonl"
}

# cli_adapter_fixture: what the LoRA scripts train on: the owl records,
# $work/run.json (6 steps, evaluations at 3 and 6) and $work/init, a 2 x 32
# base from $work/tiny.json.
cli_adapter_fixture() {
    local make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}
    cli_need_assets gpt2/vocab.json
    cli_owl_records
    cat >"$work/run.json" <<JSON
{"train": {"max_steps": 6, "batch_size": 4, "seq_len": 32, "eval_interval": 3, "threads": 2,
           "warmup_steps": 1, "learning_rate": 0.05, "seed": 4},
 "data": {"files": ["$work/data.jsonl"], "tokenizer": "$assets/gpt2", "prompts": ["Why owls?"]}}
JSON
    echo '{"model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}}' \
        >"$work/tiny.json"
    "$make_model" "$work/tiny.json" "$work/init" "$assets/gpt2" 3 ||
        { echo "FAIL: make_model_dir"; exit 1; }
}

# cli_adapter_resume_check RUN ARGS...: kd ARGS interrupted after step 2 and
# resumed gives the bits of RUN, the same command in one go.
cli_adapter_resume_check() {
    local run=$1
    shift
    expect 0 "$@" --out "$work/resumed" --stop-after 2
    expect 0 "$@" --out "$work/resumed" --resume
    for f in model/model.safetensors adapter/adapter_model.safetensors \
             last/optimizer.safetensors last/model.safetensors; do
        cmp -s "$run/$f" "$work/resumed/$f" || fail "--resume differs from one run in $f"
    done
}

# cli_dolly_config NAME MODEL MAX_STEPS EVAL_INTERVAL EXTRA: writes $work/NAME.json,
# a small run over $work/data.jsonl that every such config shares (batch, length,
# split, seed), so teachers and students of one script see the same data.
cli_dolly_config() {
    cat >"$work/$1.json" <<JSON
{"model": $2,
 "train": {"max_steps": $3, "batch_size": 4, "seq_len": 48, "eval_interval": $4, "eval_batches": 1,
           "learning_rate": 0.003, "warmup_steps": 1, "seed": 5, "threads": 2,
           "validation_fraction": 0.25},
 "data": {"files": ["$work/data.jsonl"], "tokenizer": "$assets/gpt2", "prompts": ["Why owls?"]}
 $5}
JSON
}

# expect CODE ARGS...: runs kd, keeping stdout and stderr in $work/out and $work/err.
expect() {
    local want=$1
    shift
    "$kd" "$@" >"$work/out" 2>"$work/err"
    local got=$?
    [ "$got" -eq "$want" ] || fail "kd $* exited $got, expected $want: $(tail -c 400 "$work/err")"
}

# expect_refusal PATTERN ARGS...: exit 1 with one line on stderr matching PATTERN.
expect_refusal() {
    local pattern=$1
    shift
    expect 1 "$@"
    [ "$(wc -l <"$work/err")" -eq 1 ] || fail "kd $*: expected one line on stderr: $(cat "$work/err")"
    grep -q -- "$pattern" "$work/err" || fail "kd $*: message lacks '$pattern': $(cat "$work/err")"
}

# json FILE EXPRESSION: a Python expression over the parsed file `d`.
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

cli_finish() {
    [ "$failures" -eq 0 ] && echo "ok"
    exit $((failures > 0))
}
