#!/usr/bin/env bash
# Teacher logit cache benchmark: bytes per token (raw and zstd), write speed,
# and reading a shuffled epoch from the cache against recomputing the
# teacher's forward pass (and lm_head) for the same tokens.
#
#   bench/cache_bench.sh [KD] [STEPS] [RECORDS]
#
# The teacher has configs/teacher-tiny.json's shape, template, sequence length
# and split, on the first RECORDS records (default 600; 0: all) of each real
# dolly file in the assets, and is trained for STEPS steps (default 1: close
# to its random initialisation, so its top-k mass says little about a trained
# teacher; more steps give more realistic distributions and compression).
# Every figure is per cached token, so a subset measures the same rates.
set -eu
KD=${1:-build/kd}
STEPS=${2:-1}
RECORDS=${3:-600}
ASSETS=${KD_ASSETS:-assets}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

data=()
for file in "$ASSETS"/dolly/dolly-open_qa.jsonl "$ASSETS"/dolly/dolly-mixed.jsonl; do
  name=$WORK/$(basename "$file")
  if [ "$RECORDS" -gt 0 ]; then head -n "$RECORDS" "$file" > "$name"; else cp "$file" "$name"; fi
  data+=(--data "$name")
done
echo "teacher: configs/teacher-tiny.json, $STEPS training step(s), ${data[*]}" >&2
"$KD" teacher train --config configs/teacher-tiny.json "${data[@]}" --max-steps "$STEPS" \
  --out "$WORK/teacher" > /dev/null

printf '%-22s %10s %10s %8s %10s %10s %12s %12s %8s\n' setting "B/tok raw" "B/tok zstd" ratio \
  "mass mean" "mass p5" "write tok/s" "read tok/s" "read/fwd"
run() {
  local name=$1
  shift
  "$KD" teacher cache --model "$WORK/teacher/model" --out "$WORK/$name" "$@" > /dev/null
  "$KD" cache inspect "$WORK/$name" --json | python3 -c '
import json, sys
m = json.load(sys.stdin); s = m["stats"]
print("%-22s %10.1f %10.1f %8.2f %10.4f %10.4f %12.0f %12.0f %8.1f" % (sys.argv[1],
      s["raw_bytes_per_token"], s["bytes_per_token"], s["compression_ratio"],
      s["topk_mass_mean"], s["topk_mass_p5"], s["write_tokens_per_s"],
      s["read_tokens_per_s"], s["read_tokens_per_s"] / s["teacher_tokens_per_s"]))' "$name"
}
run "k32" --topk 32
run "k8-samples8" --topk 8 --samples 8
run "k0-samples12" --topk 0 --samples 12
