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

# json FILE EXPRESSION: a Python expression over the parsed file `d`.
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

cli_finish() {
    [ "$failures" -eq 0 ] && echo "ok"
    exit $((failures > 0))
}
