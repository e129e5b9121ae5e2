#!/usr/bin/env bash
# Length-grouped batches end to end on real dolly records of uneven length:
# a grouped run resumes bit for bit after --stop-after and after kill -9 in
# mid-epoch; it pads far less than --no-group-by-length, which trains on
# another order; kd eval gives the same loss either way; the teacher cache
# sorted by length pads less and teaches a student exactly what the
# unsorted one does; kd bench --data reports the padding ratio.
# usage: cli_grouping.sh KD ASSETS_DIR
set -u
kd=$1
assets=$2
source "$(dirname "${BASH_SOURCE[0]}")/fault_common.sh"
[ -f "$assets/dolly/dolly-open_qa.jsonl" ] || { echo "FAIL: no dolly records in $assets"; exit 1; }

head -n 96 "$assets/dolly/dolly-open_qa.jsonl" >"$work/data.jsonl"
# run_config NAME MODEL EXTRA: 30 steps of batch 4 over ~72 training examples
# (an epoch is 18 batches), evaluated every 4.
run_config() {
    cat >"$work/$1.json" <<JSON
{"model": $2,
 "train": {"max_steps": 30, "batch_size": 4, "seq_len": 64, "eval_interval": 4, "eval_batches": 2,
           "learning_rate": 0.003, "warmup_steps": 2, "seed": 9, "threads": 2},
 "data": {"files": ["$work/data.jsonl"], "tokenizer": "$assets/gpt2", "prompts": ["Why owls?"]}
 $3}
JSON
}
shape='{"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}'
run_config teacher "$shape" ''

# run NAME ARGS...: kd ARGS, failing the test unless it exits 0.
run() {
    local name=$1
    shift
    "$kd" "$@" >"$work/$name.out" 2>"$work/$name.err" ||
        fail "kd $* exited $?: $(tail -c 400 "$work/$name.err")"
}
# py EXPRESSION ARGS...: prints a Python expression over sys.argv.
py() { python3 -c "import json, sys; print($1)" "${@:2}"; }
# mean_padding RUN: the mean padding_ratio of the run's metrics rows.
mean_padding() {
    py '[sum(r["padding_ratio"] for r in rows) / len(rows)
        for rows in [[json.loads(line) for line in open(sys.argv[1])]]][0]' "$1/metrics.jsonl"
}

run straight teacher train --config "$work/teacher.json" --out "$work/straight"
run plain teacher train --config "$work/teacher.json" --out "$work/plain" --no-group-by-length
grep -q padding_ratio "$work/straight.out" || fail "the epoch table has no padding_ratio column"
grouped_padding=$(mean_padding "$work/straight")
plain_padding=$(mean_padding "$work/plain")
echo "training padding ratio: grouped $grouped_padding, plain $plain_padding"
py "float(sys.argv[1]) + 0.1 < float(sys.argv[2])" "$grouped_padding" "$plain_padding" |
    grep -q True || fail "padding ratio grouped $grouped_padding, plain $plain_padding"
cmp -s "$work/straight/model/model.safetensors" "$work/plain/model/model.safetensors" &&
    fail "--no-group-by-length trained on the same order as grouping"
[ "$(py 'json.load(open(sys.argv[1]))["train"]["group_by_length"]' "$work/plain/config.json")" = 0 ] ||
    fail "config.json does not record group_by_length 0"

# Interrupted in mid-epoch between evaluations, then resumed.
run stopped teacher train --config "$work/teacher.json" --out "$work/stopped" --stop-after 21
run resumed teacher train --config "$work/teacher.json" --out "$work/stopped" --resume
same_run "$work/straight" "$work/stopped"

# Killed at several moments, resumed each time.
out=$work/killed
landed=0
for trigger in time:0.4 time:0.9 "$out/last.new/.optimizer.safetensors.tmp-*" time:0.7; do
    run_and_kill "$trigger" "$work/round.err" "$kd" teacher train --config "$work/teacher.json" \
        --out "$out" --resume
    case $code in
    137) landed=$((landed + 1)) ;;
    0) break ;;
    *) fail "kill at '$trigger': exit $code: $(cat "$work/round.err")" ;;
    esac
done
[ "$landed" -gt 0 ] || fail "no kill landed before the run ended"
run_and_kill end "$work/round.err" "$kd" teacher train --config "$work/teacher.json" --out "$out" \
    --resume
[ "$code" -eq 0 ] || fail "the last resume exited $code: $(cat "$work/round.err")"
same_run "$work/straight" "$out"

# Evaluation: the same sum in another order.
run eval_grouped eval --model "$work/straight/model" --data "$work/data.jsonl" --json
run eval_plain eval --model "$work/straight/model" --data "$work/data.jsonl" --json \
    --no-group-by-length
py '[abs(a["loss"] - b["loss"]) <= 1e-5 * abs(b["loss"]) and a["tokens"] == b["tokens"] and
    a["padding_ratio"] < b["padding_ratio"]
    for a, b in [(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))]][0]' \
    "$work/eval_grouped.out" "$work/eval_plain.out" | grep -q True ||
    fail "grouped and plain evaluations differ: $(cat "$work/eval_grouped.out" "$work/eval_plain.out")"

# The cache sorted by length against the split's order.
run cache teacher cache --model "$work/straight/model" --out "$work/cache" --topk 8
run cache_plain teacher cache --model "$work/straight/model" --out "$work/cache_plain" --topk 8 \
    --no-group-by-length
grep -q "padding ratio" "$work/cache.out" || fail "the cache summary has no padding ratio"
py 'json.load(open(sys.argv[1]))["stats"]["padding_ratio"] + 0.1 <
    json.load(open(sys.argv[2]))["stats"]["padding_ratio"]' \
    "$work/cache/manifest.json" "$work/cache_plain/manifest.json" | grep -q True ||
    fail "cache padding ratio: $(grep -h padding "$work/cache.out" "$work/cache_plain.out")"
student_shape='{"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}'
run_config student "$student_shape" ', "init": {"from": "random"},
 "distill": {"alpha": 0.5, "temperature": 2.0}'
run student student train --config "$work/student.json" --cache "$work/cache" \
    --out "$work/student" --max-steps 6
run student_plain student train --config "$work/student.json" --cache "$work/cache_plain" \
    --out "$work/student_plain" --max-steps 6
cmp -s "$work/student/model/model.safetensors" "$work/student_plain/model/model.safetensors" ||
    fail "a student learns differently from the sorted cache"

# kd bench on the records' real lengths.
run bench bench --config "$work/teacher.json" --mode train --batch 4 --seq 64 \
    --data "$work/data.jsonl" --steps 4 --warmup 1 --json
run bench_plain bench --config "$work/teacher.json" --mode fwd --batch 4 --seq 64 \
    --data "$work/data.jsonl" --steps 4 --warmup 1 --json --no-group-by-length
py '[a["padding_ratio"] < b["padding_ratio"] and a["tokens_per_s"] > 0 and a["group_by_length"]
    for a, b in [(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))]][0]' \
    "$work/bench.out" "$work/bench_plain.out" | grep -q True ||
    fail "kd bench --data: $(cat "$work/bench.out" "$work/bench_plain.out")"
"$kd" bench --config "$work/teacher.json" --mode kd --data "$work/data.jsonl" >/dev/null 2>&1
[ $? -eq 2 ] || fail "kd bench --mode kd --data is not a usage error"
finish cli_grouping
