#!/usr/bin/env bash
# kill -9 lands in kd teacher train at many points (timed, and exactly while
# a checkpoint or the best model is being written); each time the run is
# continued with --resume, and the finished run must equal an uninterrupted
# one: weights, optimizer state, best model, samples and metrics. After a
# kill before the first checkpoint, --resume starts from step 0.
# usage: cli_fault_kill_train.sh KD ASSETS_DIR
set -u
kd=$1
assets=$2
source "$(dirname "${BASH_SOURCE[0]}")/fault_common.sh"

write_train_fixture 48 4
"$kd" teacher train --config "$work/run.json" --out "$work/straight" >/dev/null 2>"$work/straight.err" ||
    { cat "$work/straight.err"; exit 1; }

out=$work/killed
# Where the kills land: after a delay, or as soon as a new temporary file
# appears: of a checkpoint's weights, optimizer state or state.json, of the
# best model's weights, or of samples.md after training.
triggers=(time:0.05 time:0.6 "$out/last.new/.model.safetensors.tmp-*" time:1.1
          "$out/last.new/.optimizer.safetensors.tmp-*" "$out/model/.model.safetensors.tmp-*"
          "$out/last.new/.state.json.tmp-*" time:0.3 time:0.8 "$out/.samples.md.tmp-*")
# train_until TRIGGER: one round, resuming the run so far.
train_until() {
    run_and_kill "$1" "$work/round.err" "$kd" teacher train --config "$work/run.json" \
        --out "$out" --resume
}

landed=0
for trigger in "${triggers[@]}"; do
    train_until "$trigger"
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
done
echo "cli_fault_kill_train: $landed of ${#triggers[@]} kills landed"
train_until end
[ "$code" -eq 0 ] || fail "the last resume exited $code: $(cat "$work/round.err")"
same_run "$work/straight" "$out"
leftovers=$(find "$out" -name '*.tmp-*' -o -name '*.new' -o -name '*.old')
[ -z "$leftovers" ] || fail "temporary files left behind: $leftovers"
"$kd" eval --model "$out/model" --data "$work/eval.jsonl" >/dev/null 2>&1 ||
    fail "kd eval cannot read the resumed run's best model"
finish cli_fault_kill_train
