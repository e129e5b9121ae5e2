#!/usr/bin/env bash
# The progress line. On a terminal (a pseudo-terminal made by script(1)) the
# bar is erased before the epoch table's rows print, so that no row shares a
# line with it; without a terminal, progress is plain lines.
# usage: cli_progress.sh KD ASSETS_DIR
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
cli_need_assets gpt2/vocab.json
command -v script >/dev/null || { echo "FAIL: script(1) (util-linux) is missing"; exit 1; }

for i in $(seq 1 24); do
    printf '{"instruction": "Question %d about owls?", "context": "", "response": "Owls hunt at night, answer %d.", "category": "open_qa"}\n' "$i" "$i"
done >"$work/data.jsonl"
cli_dolly_config run '{"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64, "vocab_size": 50257}' \
    0 0 ''
sed -i 's/"max_steps": 0,/"epochs": 2,/' "$work/run.json"

# What a terminal shows: each line as the text after its last carriage
# return, with the erase-to-end-of-line codes gone.
script -qec "'$kd' teacher train --config '$work/run.json' --out '$work/tty'" /dev/null \
    >"$work/tty.log" 2>&1 || fail "teacher train on a terminal: $(tail -c 300 "$work/tty.log")"
python3 - "$work/tty.log" <<'PY' || fail "the epoch table shares a line with the progress bar"
import re, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
shown = [line.split("\r")[-1].replace("\x1b[K", "") for line in raw.replace("\r\n", "\n").split("\n")]
rows = [line for line in shown if re.match(r"^[12] +teacher +\d", line)]
garbled = [line for line in shown if re.search(r"eta \d+m\d\ds\S", line)]
if len(rows) != 2 or garbled:
    print("rows:", rows, "garbled:", garbled, file=sys.stderr)
    sys.exit(1)
PY
grep -q $'\r\033\[K1 ' "$work/tty.log" || fail "the bar is not erased before the first row"

# No terminal: plain lines, no carriage return or escape code.
"$kd" teacher train --config "$work/run.json" --out "$work/plain" >"$work/plain.log" 2>&1 ||
    fail "teacher train without a terminal"
grep -q $'[\r\033]' "$work/plain.log" && fail "progress without a terminal holds control codes"
grep -Eq "^teacher [0-9]+/[0-9]+ \| loss" "$work/plain.log" || fail "no plain progress line"

cli_finish
