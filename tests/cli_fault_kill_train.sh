#!/usr/bin/env bash
# kill -9 lands in kd teacher train at many points (timed, and exactly while
# a checkpoint or the best model is being written); each time the run is
# continued with --resume, and the finished run must equal an uninterrupted
# one: weights, optimizer state, best model, samples and metrics. A kill
# before the first checkpoint leaves nothing to resume: --resume then says
# so (exit 1) and the run is started again without it.
# usage: cli_fault_kill_train.sh KD ASSETS_DIR
set -u
kd=$1
assets=$2
source "$(dirname "$0")/fault_common.sh"

write_train_fixture 48 4
train() { "$kd" teacher train --config "$work/run.json" "$@"; }
train --out "$work/straight" >/dev/null 2>"$work/straight.err" ||
    { cat "$work/straight.err"; exit 1; }

out=$work/killed
# time:SECONDS kills after a delay; a glob kills as soon as a new file matches
# it: the temporary file of a checkpoint's weights, optimizer state or
# state.json, or of the best model's weights.
triggers=(time:0.05 time:0.6 "$out/last.new/.model.safetensors.tmp-*" time:1.1
          "$out/last.new/.optimizer.safetensors.tmp-*" "$out/model/.model.safetensors.tmp-*"
          "$out/last.new/.state.json.tmp-*" time:0.3 time:0.8 "$out/.samples.md.tmp-*")
# run_until TRIGGER [--resume]: starts kd in the background (kd itself, not a
# function, whose subshell the kill would hit), kills it at TRIGGER, and
# sets code to its exit status.
run_until() {
    local trigger=$1
    shift
    "$kd" teacher train --config "$work/run.json" --out "$out" "$@" >/dev/null 2>"$work/round.err" &
    local pid=$!
    case $trigger in
    time:*) sleep "${trigger#time:}" ;;
    *) wait_for_new_file "$pid" "$trigger" ;;
    esac
    kill_now "$pid"
    code=$?
}

landed=0
resume=()
for trigger in "${triggers[@]}"; do
    run_until "$trigger" "${resume[@]}"
    if [ "$code" -eq 1 ] && grep -q "nothing to resume" "$work/round.err"; then
        run_until "$trigger"   # killed before the first checkpoint: start again
    fi
    echo "kill at ${trigger#"$out/"}: exit $code"
    case $code in
    137) landed=$((landed + 1)) ;;
    0) break ;;   # the run ended before this kill
    *) fail "kill at '$trigger': exit $code: $(cat "$work/round.err")" ;;
    esac
    if [ "$trigger" = "$out/last.new/.optimizer.safetensors.tmp-*" ] && [ "$code" -eq 137 ] &&
       [ ! -d "$out/last.new" ]; then
        fail "the kill did not land while the checkpoint was written"
    fi
    resume=(--resume)
done
echo "cli_fault_kill_train: $landed of ${#triggers[@]} kills landed"

train --out "$out" --resume >/dev/null 2>"$work/final.err" ||
    train --out "$out" >/dev/null 2>"$work/final.err" || fail "the last resume: $(cat "$work/final.err")"
same_run "$work/straight" "$out"
leftovers=$(find "$out" -name '*.tmp-*' -o -name '*.new' -o -name '*.old')
[ -z "$leftovers" ] || fail "temporary files left behind: $leftovers"
"$kd" eval --model "$out/model" --data "$work/data.jsonl" >/dev/null 2>&1 ||
    fail "kd eval cannot read the resumed run's best model"
finish cli_fault_kill_train
