#!/usr/bin/env bash
# kd student train end to end on a tiny teacher and 48 real dolly records:
# usage errors (2), the run directory, init from teacher layers and by width
# reduction, cache-based and live-teacher KD, --stop-after / --resume bit for
# bit, and every refusal: a damaged cache, a cache of other data or another
# sequence length, another vocabulary, a student config given to the teacher.
# usage: cli_student.sh KD ASSETS_DIR
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
cli_need_assets gpt2/vocab.json dolly/dolly-open_qa.jsonl

head -n 48 "$assets/dolly/dolly-open_qa.jsonl" >"$work/data.jsonl"
head -n 30 "$assets/dolly/dolly-mixed.jsonl" >"$work/other.jsonl"
# run_config NAME MODEL EXTRA: 4 steps, evaluated every 2.
run_config() { cli_dolly_config "$1" "$2" 4 2 "$3"; }
teacher_shape='{"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}'
run_config teacher "$teacher_shape" ''
expect 0 teacher train --config "$work/teacher.json" --out "$work/teacher"
expect 0 teacher cache --model "$work/teacher/model" --out "$work/cache" --topk 8

deep='{"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}'
run_config student "$deep" ', "init": {"from": "teacher", "layers": [1]},
 "distill": {"alpha": 0.5, "temperature": 2.0}'

expect 0 student train --help
expect 2 student train
expect 2 student train --config "$work/student.json"
expect 2 student train --config "$work/student.json" --cache "$work/cache" --max-steps -2
expect 1 student train --config "$work/student.json" --cache "$work/nowhere"

# From the cache: the same run directory as the teacher's.
out="$work/student"
expect 0 student train --config "$work/student.json" --cache "$work/cache" --out "$out"
for f in model/config.json model/model.safetensors model/vocab.json last/state.json \
    metrics.jsonl config.json samples.md; do
    [ -f "$out/$f" ] || fail "student run lacks $f"
done
grep -q '"train_divergence"' "$out/metrics.jsonl" || fail "metrics.jsonl logs the divergence"
[ "$(json "$out/config.json" "d['distill']['source'], d['distill']['topk'], d['init']['layers']")" \
    = "cache 8 [1]" ] || fail "config.json: $(json "$out/config.json" "d['distill'], d['init']")"
[ "$(json "$out/config.json" "d['distill']['teacher']")" = "$work/teacher/model" ] ||
    fail "the cache names its teacher"
expect 0 eval --model "$out/model" --json
[ "$(json "$out/config.json" "d['model']['n_layer']")" = 1 ] || fail "the student has 1 layer"

# Interrupted after step 1 and resumed: bit for bit the uninterrupted run.
expect 0 student train --config "$work/student.json" --cache "$work/cache" --out "$work/split" \
    --stop-after 1
expect 0 student train --config "$work/student.json" --cache "$work/cache" --out "$work/split" \
    --resume
cmp -s "$out/last/model.safetensors" "$work/split/last/model.safetensors" ||
    fail "resumed student differs from the uninterrupted one"
# metrics.jsonl: the same losses at the same steps (elapsed times differ).
same_losses=$(/usr/bin/python3 - "$out/metrics.jsonl" "$work/split/metrics.jsonl" <<'PY'
import json, sys
rows = [[(r["type"], r["step"], r["train_loss"], r.get("val_loss")) for r in map(json.loads, open(p))]
        for p in sys.argv[1:]]
print(rows[0] == rows[1])
PY
)
[ "$same_losses" = True ] || fail "resumed metrics differ"

# A live teacher over the full vocabulary instead of the cache; alpha 1 is
# the hard-label baseline.
expect 0 student train --config "$work/student.json" --teacher "$work/teacher/model" \
    --out "$work/live"
[ "$(json "$work/live/config.json" "d['distill']['source']")" = live ] || fail "source live"
expect 0 student train --config "$work/student.json" --cache "$work/cache" --alpha 1 \
    --out "$work/baseline"
[ "$(json "$work/baseline/config.json" "d['distill']['alpha']")" = 1 ] || fail "alpha 1 recorded"
expect 0 student train --config "$work/student.json" --cache "$work/cache" --random-init \
    --max-steps 1 --out "$work/scratch"
[ "$(json "$work/scratch/config.json" "d['init']['from']")" = random ] || fail "--random-init"
expect 2 student train --config "$work/student.json" --cache "$work/cache" --alpha
expect 1 student train --config "$work/student.json" --cache "$work/cache" --alpha 1.5
expect 1 student train --config "$work/student.json" --cache "$work/cache" --temperature -1
grep -q "temperature -1" "$work/err" || fail "a negative temperature is refused, not ignored"
expect 1 student train --config "$work/student.json" --cache "$work/cache" --divergence hellinger
grep -q "hellinger" "$work/err" || fail "unknown divergence named"

# Narrower: half the heads and width, channels ranked on the teacher.
narrow='{"n_layer": 1, "n_head": 1, "n_embd": 16, "n_positions": 64, "vocab_size": 50257}'
run_config narrow "$narrow" ', "init": {"from": "teacher", "calibration_examples": 8}'
expect 0 student train --config "$work/narrow.json" --cache "$work/cache" --out "$work/narrow"
grep -q "ranking the teacher's channels" "$work/err" || fail "width reduction announced"
expect 0 student train --config "$work/narrow.json" --cache "$work/cache" --out "$work/narrow2" \
    --stop-after 1
expect 0 student train --config "$work/narrow.json" --cache "$work/cache" --out "$work/narrow2" \
    --resume
[ "$(json "$work/narrow2/config.json" "d['init']['layers']")" = "[0]" ] ||
    fail "a resumed run records the layer plan: $(json "$work/narrow2/config.json" "d['init']")"
bad_heads='{"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64, "vocab_size": 50257}'
run_config bad_heads "$bad_heads" ', "init": {"from": "teacher"}'
expect 1 student train --config "$work/bad_heads.json" --cache "$work/cache" --out "$work/x"
grep -q "head size" "$work/err" || fail "head size mismatch named: $(cat "$work/err")"
run_config too_deep "$deep" ', "init": {"from": "teacher", "layers": [2]}'
expect 1 student train --config "$work/too_deep.json" --cache "$work/cache" --out "$work/x"
grep -q "no layer 2" "$work/err" || fail "missing teacher layer named: $(cat "$work/err")"

# Refusals: another vocabulary, another sequence length, other data.
padded='{"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50304}'
run_config padded "$padded" ''
expect 1 student train --config "$work/padded.json" --cache "$work/cache" --out "$work/x"
grep -q "vocabulary" "$work/err" || fail "vocabulary mismatch named: $(cat "$work/err")"
sed 's/"seq_len": 48/"seq_len": 40/' "$work/student.json" >"$work/seq.json"
expect 1 student train --config "$work/seq.json" --cache "$work/cache" --out "$work/x"
grep -q "sequence length" "$work/err" || fail "sequence length named: $(cat "$work/err")"
expect 1 student train --config "$work/student.json" --cache "$work/cache" \
    --data "$work/other.jsonl" --out "$work/x"
grep -q "data" "$work/err" || fail "other data named: $(cat "$work/err")"
expect 1 teacher train --config "$work/student.json" --out "$work/x"
grep -q "student" "$work/err" || fail "teacher train refuses a student config"

# A flipped byte in a shard: the run refuses the cache, naming the shard.
shard="$work/cache/shard-00000.kdlc"
byte=$(od -An -tu1 -j200 -N1 "$shard" | tr -d ' ')
printf "\\$(printf '%03o' $(((byte + 1) % 256)))" | dd of="$shard" bs=1 seek=200 conv=notrunc status=none
expect 1 student train --config "$work/student.json" --cache "$work/cache" --out "$work/x"
grep -q "shard-00000.kdlc" "$work/err" || fail "damaged shard named: $(cat "$work/err")"

cli_finish
