# What the fault scripts (tests/cli_fault_*.sh) share: a work directory,
# failure counting, a small training fixture, and ways to kill kd mid-run.
# Sourced, not run; the caller sets kd and assets first.

if [ ! -f "$assets/gpt2/vocab.json" ]; then
    echo "FAIL: no GPT-2 tokenizer files in $assets/gpt2"
    exit 1
fi
work=$(mktemp -d)
mounts=()   # file systems a script mounted under $work, unmounted on exit
cleanup() {
    local m
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# finish NAME: the script's last line.
finish() {
    [ "$failures" -eq 0 ] && echo "$1: all checks passed"
    exit $((failures > 0))
}

# write_train_fixture STEPS EVAL_INTERVAL: $work/data.jsonl, $work/eval.jsonl and $work/run.json,
# a 2-layer model small enough that a step takes milliseconds, with a
# checkpoint every EVAL_INTERVAL steps and one prompt answered in samples.md.
write_train_fixture() {
    local i
    for i in $(seq 1 64); do
        printf '{"instruction": "Question %d about owls?", "context": "", "response": "Owls hunt at night, answer %d, and sleep by day.", "category": "open_qa"}\n' "$i" "$i"
    done >"$work/data.jsonl"
    head -n 4 "$work/data.jsonl" >"$work/eval.jsonl"   # enough to show a model loads
    cat >"$work/run.json" <<JSON
{"model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257},
 "train": {"max_steps": $1, "batch_size": 2, "seq_len": 32, "eval_interval": $2, "eval_batches": 1,
           "threads": 2, "warmup_steps": 2, "learning_rate": 0.003, "seed": 7},
 "data": {"files": ["$work/data.jsonl"], "tokenizer": "$assets/gpt2", "prompts": ["Why owls?"]}}
JSON
}

# same_run A B: two run directories hold the same results. The weights, the
# optimizer state and the samples are compared byte for byte; metrics.jsonl
# and last/state.json also record wall-clock time, which is left out.
same_run() {
    local f
    for f in model/model.safetensors model/config.json last/model.safetensors \
             last/optimizer.safetensors samples.md config.json; do
        cmp -s "$1/$f" "$2/$f" || fail "$f differs between $1 and $2"
    done
    python3 - "$1" "$2" <<'PY' || fail "metrics.jsonl or last/state.json differ between $1 and $2"
import json, sys
clock = {"elapsed_s", "epoch_elapsed_s", "tokens_per_s"}
def timeless(record):
    return {k: v for k, v in record.items() if k not in clock}
def read(run):
    with open(run + "/metrics.jsonl") as f:
        metrics = [timeless(json.loads(line)) for line in f]
    with open(run + "/last/state.json") as f:
        return metrics, timeless(json.load(f))
a, b = read(sys.argv[1]), read(sys.argv[2])
if a != b:
    print("first run:", a, "\nsecond run:", b, file=sys.stderr)
sys.exit(a != b)
PY
}

# wait_for_new_file PID GLOB: returns once a file matching GLOB exists that
# did not when it was called, or PID has ended. It polls every millisecond
# with bash builtins only (read -t on a pipe that never delivers is a sleep
# without a fork), fast enough to catch a file that lives for milliseconds
# without taking a core from kd.
wait_for_new_file() {
    local pid=$1 pattern=$2 before f tick
    exec {tick}<> <(:)
    before=$(compgen -G "$pattern" | sort | tr '\n' ' ')
    while kill -0 "$pid" 2>/dev/null; do
        for f in $pattern; do
            [ -e "$f" ] || continue
            case " $before " in *" $f "*) ;; *) exec {tick}<&-; return 0 ;; esac
        done
        read -r -t 0.001 -u "$tick"
    done
    exec {tick}<&-
    return 0
}

# run_and_kill TRIGGER LOG COMMAND...: starts COMMAND (a program, not a
# shell function, whose subshell the kill would hit instead) in the
# background with stderr to LOG, kills it with SIGKILL at TRIGGER and sets
# code to its exit status: 137 when the kill landed, else how it ended
# first. TRIGGER is time:SECONDS, a glob (kill as soon as a new file
# matches it), or "end": no kill, wait for the command to finish.
run_and_kill() {
    local trigger=$1 log=$2
    shift 2
    "$@" >/dev/null 2>"$log" &
    local pid=$!
    case $trigger in
    end) ;;
    time:*) sleep "${trigger#time:}" ;;
    *) wait_for_new_file "$pid" "$trigger" ;;
    esac
    [ "$trigger" = end ] || kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    code=$?
}
