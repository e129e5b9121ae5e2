#!/usr/bin/env bash
# What the report features cost:
#   1. a training row every log_every steps: the same run with --log-every 1,
#      10 (the default) and 1000000 (evaluation rows only), on a model small
#      enough (1 layer x 64, sequence 128) that a step is cheap and logging's
#      share is the largest it gets;
#   2. kd report on that run: the time, and the size of report.html against
#      report.md;
#   3. kd report diff of the report against itself.
#
#   bench/report_bench.sh [KD] [STEPS] [ROUNDS]
#
# Prints one line per measurement with the machine's load (uptime), so
# figures taken on a busy machine can be told from quiet ones.
set -eu
KD=${1:-build/kd}
STEPS=${2:-200}
ROUNDS=${3:-3}
ASSETS=${KD_ASSETS:-assets}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

head -n 400 "$ASSETS/dolly/dolly-open_qa.jsonl" >"$WORK/data.jsonl"
cat >"$WORK/run.json" <<JSON
{"model": {"n_layer": 1, "n_head": 2, "n_embd": 64, "n_positions": 128, "vocab_size": 50257},
 "train": {"max_steps": $STEPS, "batch_size": 4, "seq_len": 128, "eval_interval": 100,
           "eval_batches": 2, "warmup_steps": 10, "learning_rate": 0.002, "threads": 2},
 "data": {"files": ["$WORK/data.jsonl"], "tokenizer": "gpt2", "prompts": ["Why owls?"]}}
JSON
load() { uptime | sed 's/.*load average: //'; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cpus; kd $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $(date -u +%F)"

for round in $(seq 1 "$ROUNDS"); do
  for every in 1 10 1000000; do
    start=$(date +%s.%N)
    "$KD" teacher train --config "$WORK/run.json" --out "$WORK/run-$every" --log-every "$every" \
      --force >/dev/null 2>&1
    end=$(date +%s.%N)
    rows=$(wc -l <"$WORK/run-$every/metrics.jsonl")
    printf 'round %d  log_every %-7s  %3d rows  %6.2f s wall  load %s\n' "$round" "$every" "$rows" \
      "$(echo "$end - $start" | bc)" "$(load)"
  done
done

start=$(date +%s.%N)
"$KD" report --teacher "$WORK/run-10" --student "$WORK/run-1" --out "$WORK/report" --repeats 2 \
  --rouge-examples 4 >/dev/null 2>&1
end=$(date +%s.%N)
printf 'kd report: %.2f s; report.html %d bytes, report.md %d bytes  load %s\n' \
  "$(echo "$end - $start" | bc)" "$(stat -c %s "$WORK/report/report.html")" \
  "$(stat -c %s "$WORK/report/report.md")" "$(load)"
start=$(date +%s.%N)
"$KD" report diff "$WORK/report/report.json" "$WORK/report/report.json" --out "$WORK/diff" >/dev/null
end=$(date +%s.%N)
printf 'kd report diff: %.3f s  load %s\n' "$(echo "$end - $start" | bc)" "$(load)"
