#!/usr/bin/env bash
# A run directory has one owner, and finished work is only replaced on
# request:
#   - a second writer of a directory is refused at once, in one line naming
#     the directory and the holder's pid, and the first run ends exactly as a
#     run of its own would;
#   - a reader (kd eval, kd cache verify, kd student train from a cache) and
#     a writer exclude each other, either way round;
#   - a rerun without --resume or --force is refused and changes no byte;
#   - --force replaces a finished run with exactly what a fresh run makes;
#   - kill -9 of a --force at nine points leaves the old run or none of
#     it, never a mix;
#   - a kill -9 releases the lock, and --resume before the first checkpoint
#     starts from step 0.
# Processes are paused with SIGSTOP once they hold their lock, so that what
# overlaps does not depend on timing.
# usage: cli_fault_run_dir.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
kd=$1
assets=$2
make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}
source "$(dirname "${BASH_SOURCE[0]}")/fault_common.sh"

write_train_fixture 8 4
train=("$kd" teacher train --config "$work/run.json")
"${train[@]}" --out "$work/solo" >/dev/null 2>"$work/solo.err" || { cat "$work/solo.err"; exit 1; }

# wait_for PID COMMAND...: polls every millisecond until COMMAND succeeds;
# returns 1 if PID ends first.
wait_for() {
    local pid=$1 tick
    shift
    exec {tick}<> <(:)
    until "$@"; do
        kill -0 "$pid" 2>/dev/null || { exec {tick}<&-; return 1; }
        read -r -t 0.001 -u "$tick"
    done
    exec {tick}<&-
}
# writes_lock DIR: process $bg holds DIR's lock for writing (its pid is in the file).
writes_lock() { local got; read -r got 2>/dev/null <"$1/.kd-lock" && [ "$got" = "$bg" ]; }
# reads_lock: process $bg holds a shared flock.
reads_lock() { grep -Eq "FLOCK +ADVISORY +READ +$bg " /proc/locks; }

# start_paused CONDITION... -- COMMAND...: starts COMMAND in the background
# (stdout to $work/bg.out, stderr to $work/bg.err) with its pid in bg, and
# pauses it as soon as CONDITION holds.
start_paused() {
    local condition=()
    while [ "$1" != -- ]; do condition+=("$1"); shift; done
    shift
    "$@" >"$work/bg.out" 2>"$work/bg.err" &
    bg=$!
    wait_for "$bg" "${condition[@]}" || fail "$* ended before it held its lock: $(cat "$work/bg.err")"
    kill -STOP "$bg"
}
finish_paused() {
    kill -CONT "$bg"
    wait "$bg"
    bg_code=$?
}

# refused LINE COMMAND...: COMMAND exits 1 with exactly LINE on stderr.
refused() {
    local line=$1
    shift
    "$@" >/dev/null 2>"$work/refused.err"
    local got=$?
    [ "$got" -eq 1 ] || fail "$* exited $got, expected 1: $(cat "$work/refused.err")"
    [ "$(cat "$work/refused.err")" = "$line" ] ||
        fail "$*: expected the one line '$line', got '$(cat "$work/refused.err")'"
}

# tree DIR: every file under DIR (but the lock file, whose pid a killed
# writer leaves) with its SHA-256; files DIR: only their names, for runs
# whose metrics and state also record the time they took.
tree() { (cd "$1" && find . -type f ! -name .kd-lock -print0 | sort -z | xargs -0r sha256sum); }
files() { (cd "$1" && find . -type f ! -name .kd-lock | sort); }

# ---- two writers -----------------------------------------------------------
out=$work/first
start_paused writes_lock "$out" -- "${train[@]}" --out "$out"
first=$bg
refused "kd teacher train: $out: in use by process $first (writing it); wait for it to end or stop it" \
    "${train[@]}" --out "$out" --seed 99
refused "kd teacher train: $out: in use by process $first (writing it); wait for it to end or stop it" \
    "${train[@]}" --out "$out" --force
# A reader is refused too, while the writer holds the directory.
refused "kd eval: $out/model: in use by process $first (writing it); wait for it to end or stop it" \
    "$kd" eval --model "$out/model" --data "$work/eval.jsonl"
finish_paused
[ "$bg_code" -eq 0 ] || fail "the first writer exited $bg_code: $(cat "$work/bg.err")"
same_run "$work/solo" "$out"
[ "$(files "$work/solo")" = "$(files "$out")" ] || fail "the first writer's files differ from a solo run's"
[ -s "$out/.kd-lock" ] && fail "the lock file keeps the pid of a writer that ended"

# ---- a rerun without a flag changes nothing ----------------------------------
before=$(tree "$out")
refused "kd teacher train: $out holds a training run: --resume continues it, --force starts over" \
    "${train[@]}" --out "$out" --seed 99
[ "$before" = "$(tree "$out")" ] || fail "a refused rerun changed the run"
"${train[@]}" --out "$out" --resume --force >/dev/null 2>&1
[ $? -eq 2 ] || fail "--resume with --force is a usage error"
# --resume of a finished run has nothing left to do and changes no weights.
"${train[@]}" --out "$out" --resume >/dev/null 2>"$work/err" || fail "--resume of a finished run: $(cat "$work/err")"
for f in model/model.safetensors last/model.safetensors last/optimizer.safetensors; do
    cmp -s "$work/solo/$f" "$out/$f" || fail "--resume of a finished run changed $f"
done

# ---- --force replaces a finished run -----------------------------------------
old=$work/old
"${train[@]}" --out "$old" --seed 99 >/dev/null 2>"$work/err" || fail "the seed-99 run: $(cat "$work/err")"
cmp -s "$old/model/model.safetensors" "$work/solo/model/model.safetensors" &&
    fail "another seed made the same model: the --force checks below would prove nothing"
cp -a "$old" "$work/old.saved"
"${train[@]}" --out "$old" --force >/dev/null 2>"$work/err" || fail "--force: $(cat "$work/err")"
grep -q "removed what it held, to start over" "$work/err" || fail "--force says what it removed"
same_run "$work/solo" "$old"
[ "$(files "$work/solo")" = "$(files "$old")" ] || fail "--force left files of the old run"
[ -e "$old.kd-trash" ] && fail "--force left $old.kd-trash"

# ---- kill -9 of a --force ------------------------------------------------------
# After each kill the directory holds the old run, byte for byte, or none of
# its files: no weights, metrics, samples or settings of the old run remain.
out=$work/forced
old_tree=$(tree "$work/old.saved")
# Where: as the empty directory is prepared, right after the exchange (the
# old files are in the trash), as the new run writes its settings, its
# first checkpoint and its best model, and after delays. (The new run's
# files have the old run's names, so the triggers are its temporary files.)
triggers=(time:0.001 time:0.01 "$out.kd-trash" "$out.kd-trash/last" "$out/.config.json.tmp-*"
          "$out/last.new" "$out/model/.model.safetensors.tmp-*" time:0.2 time:0.5)
landed=0
for trigger in "${triggers[@]}"; do
    rm -rf "$out" "$out.kd-trash"
    cp -a "$work/old.saved" "$out"
    run_and_kill "$trigger" "$work/round.err" "${train[@]}" --out "$out" --force
    echo "kill at ${trigger#"$work/"}: exit $code"
    case $code in
    137) landed=$((landed + 1)) ;;
    0) ;;
    *) fail "kill at '$trigger': exit $code: $(cat "$work/round.err")" ;;
    esac
    [ -d "$out" ] || { fail "after the kill at '$trigger' $out is missing"; continue; }
    now=$(tree "$out")
    [ "$now" = "$old_tree" ] && { echo "  $out holds the old run"; continue; }
    echo "  $out holds none of the old run"
    python3 - "$trigger" <<PY || fail "after the kill at '$trigger' $out mixes old and new files"
import sys
old = dict(line.split(None, 1)[::-1] for line in """$old_tree""".splitlines())
now = dict(line.split(None, 1)[::-1] for line in """$now""".splitlines())
# Files that depend on the seed: the same path with the same bytes is the old run's.
mine = [p for p in old if p.endswith((".safetensors", ".jsonl", "samples.md", "state.json"))
        or p == "./config.json"]
left = [p for p in mine if now.get(p) == old[p]]
if left:
    print("old files left:", left, file=sys.stderr)
sys.exit(bool(left))
PY
done
echo "cli_fault_run_dir: $landed of ${#triggers[@]} kills of --force landed"
[ "$landed" -gt 0 ] || fail "no kill of --force landed"
# The last kill's lock is gone with its process: --force completes the run.
"${train[@]}" --out "$out" --force >/dev/null 2>"$work/err" || fail "--force after the kills: $(cat "$work/err")"
same_run "$work/solo" "$out"
[ "$(files "$work/solo")" = "$(files "$out")" ] || fail "--force after the kills left other files"
[ -e "$out.kd-trash" ] && fail "$out.kd-trash left behind"

# ---- kill -9 releases the lock; --resume before the first checkpoint -----------
out=$work/early
start_paused writes_lock "$out" -- "${train[@]}" --out "$out"
[ -e "$out/last" ] && fail "the paused run already has a checkpoint"
kill -9 "$bg"
wait "$bg" 2>/dev/null
"${train[@]}" --out "$out" --resume >/dev/null 2>"$work/err" || fail "--resume after kill -9: $(cat "$work/err")"
grep -q "^$out: no checkpoint yet, so --resume starts from step 0$" "$work/err" ||
    fail "--resume before the first checkpoint says it starts from step 0: $(cat "$work/err")"
same_run "$work/solo" "$out"
[ "$(files "$work/solo")" = "$(files "$out")" ] || fail "the resumed run's files differ from a solo run's"

# ---- a cache: its writer against its readers -----------------------------------
"$make_model" "$work/run.json" "$work/teacher" "$assets/gpt2" 3 || { echo "FAIL: make_model_dir"; exit 1; }
cache=("$kd" teacher cache --model "$work/teacher" --config "$work/run.json" --topk 8 --shard-examples 8)
"${cache[@]}" --out "$work/cache" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
python3 - "$work/run.json" "$work/student.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["model"]["n_layer"] = 1
config["distill"] = {"alpha": 0.5, "temperature": 1.0}
json.dump(config, open(sys.argv[2], "w"))
PY
student=("$kd" student train --config "$work/student.json" --cache "$work/cache")
"${student[@]}" --out "$work/student-solo" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
cache_tree=$(tree "$work/cache")

# A student reading the cache keeps its writer out.
start_paused reads_lock -- "${student[@]}" --out "$work/student"
refused "kd teacher cache: $work/cache: in use by process $bg (reading it); wait for it to end or stop it" \
    "${cache[@]}" --out "$work/cache" --force
# Readers share: a second reader goes ahead.
"$kd" cache verify "$work/cache" >/dev/null 2>"$work/err" || fail "a second reader: $(cat "$work/err")"
finish_paused
[ "$bg_code" -eq 0 ] || fail "the student exited $bg_code: $(cat "$work/bg.err")"
[ "$cache_tree" = "$(tree "$work/cache")" ] || fail "the cache changed under its reader"
same_run "$work/student-solo" "$work/student"

# A cache being written keeps its readers out.
start_paused writes_lock "$work/cache2" -- "${cache[@]}" --out "$work/cache2"
writer=$bg
refused "kd cache verify: $work/cache2: in use by process $writer (writing it); wait for it to end or stop it" \
    "$kd" cache verify "$work/cache2"
refused "kd student train: $work/cache2: in use by process $writer (writing it); wait for it to end or stop it" \
    "$kd" student train --config "$work/student.json" --cache "$work/cache2" --out "$work/student2"
finish_paused
[ "$bg_code" -eq 0 ] || fail "the cache writer exited $bg_code: $(cat "$work/bg.err")"
for shard in "$work/cache"/shard-*.kdlc; do
    cmp -s "$shard" "$work/cache2/${shard##*/}" || fail "${shard##*/} differs from the cache written alone"
done

finish cli_fault_run_dir
