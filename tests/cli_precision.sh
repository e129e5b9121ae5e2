#!/usr/bin/env bash
# --precision end to end: every command that runs a model takes it and says
# which precision it chose; a bad value and bf16 on a CPU without native bf16
# exit 2 with one line; auto falls back to fp32 there; a cache records the
# teacher's precision and a student reads it regardless. A CPU without bf16
# is shown to kd by capping oneDNN's instruction set (ONEDNN_MAX_CPU_ISA),
# so both sides run on any machine. Usage: bash cli_precision.sh KD ASSETS_DIR
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
cli_need_assets gpt2/vocab.json gpt2/merges.txt dolly/dolly-open_qa.jsonl

head -n 40 "$assets/dolly/dolly-open_qa.jsonl" >"$work/data.jsonl"
cli_dolly_config teacher '{"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}' 2 1 ""
cli_dolly_config student '{"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64, "vocab_size": 50257}' 2 1 ""
echo '{"model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 32, "vocab_size": 97}}' \
    >"$work/tiny.json"

# What this CPU offers, as kd sees it: auto's choice.
expect 0 bench --config "$work/tiny.json" --mode fwd --batch 1 --seq 8 --steps 1 --warmup 0 --json
native=$(json "$work/out" 'd["precision"]')
[ "$native" = bf16 ] || [ "$native" = fp32 ] || fail "bench --json precision: $native"
expect 0 version
grep -q "^precision $native (auto: " "$work/out" || fail "kd version names auto's choice"

# A CPU without bf16 products: bf16 is a usage error naming what is missing,
# auto runs fp32.
no_bf16() { ONEDNN_MAX_CPU_ISA=AVX2 "$@"; }
no_bf16 "$kd" bench --config "$work/tiny.json" --mode fwd --seq 8 --steps 1 --precision bf16 \
    >"$work/out" 2>"$work/err"
[ $? -eq 2 ] || fail "bf16 without native bf16 must exit 2"
[ "$(wc -l <"$work/err")" -eq 1 ] || fail "one line for bf16 without native bf16: $(cat "$work/err")"
grep -q "no native bf16" "$work/err" && grep -q "auto or fp32 will run" "$work/err" ||
    fail "the line says what the CPU lacks and what runs: $(cat "$work/err")"
no_bf16 "$kd" bench --config "$work/tiny.json" --mode fwd --seq 8 --steps 1 --json \
    >"$work/out" 2>"$work/err" || fail "auto without native bf16"
[ "$(json "$work/out" 'd["precision"]')" = fp32 ] || fail "auto without native bf16 is fp32"
no_bf16 "$kd" teacher train --config "$work/teacher.json" --out "$work/refused" --precision bf16 \
    >"$work/out" 2>"$work/err"
[ $? -eq 2 ] || fail "teacher train --precision bf16 without native bf16 must exit 2"
[ ! -e "$work/refused" ] || fail "a refused precision starts no run"
expect 2 eval --model "$work/none" --precision fp16
grep -q "expected fp32, bf16 or auto" "$work/err" || fail "bad value named: $(cat "$work/err")"
echo '{"name": "p", "precision": "fp16", "teacher": {"config": "teacher.json"}}' >"$work/pipe.json"
expect 1 pipeline "$work/pipe.json"
grep -q "pipeline.precision: precision \"fp16\"" "$work/err" ||
    fail "a pipeline file's bad precision is named: $(cat "$work/err")"

# Every command says what it chose; the teacher in the precision of this CPU.
expect 0 teacher train --config "$work/teacher.json" --out "$work/teacher"
grep -q "precision $native (auto: " "$work/err" || fail "teacher train prints its precision"
expect 0 teacher cache --model "$work/teacher/model" --out "$work/cache" --topk 8
grep -q "kd teacher cache: precision $native" "$work/err" || fail "teacher cache prints it"
[ "$(json "$work/cache/manifest.json" 'd["teacher_precision"]')" = "$native" ] ||
    fail "the manifest records the teacher's precision"
grep -q "^teacher precision   $native" "$work/out" || fail "the cache summary shows it"
expect 0 student train --config "$work/student.json" --cache "$work/cache" \
    --out "$work/student" --precision fp32
grep -q "precision fp32 (OpenBLAS" "$work/err" || fail "student train prints fp32"
expect 0 eval --model "$work/teacher/model" --precision fp32
grep -q "kd eval: precision fp32" "$work/err" || fail "eval prints its precision"
expect 0 generate --model "$work/teacher/model" --prompt "Why?" --max-new-tokens 2
grep -q "kd generate: precision $native" "$work/err" || fail "generate prints its precision"
# The config's key, overridden by the flag.
[ "$(json "$work/student/config.json" 'd["train"]["precision"]')" = fp32 ] ||
    fail "the run's config records the precision asked for"
# A student of an fp32 or bf16 cache refuses neither; the report shows which.
[ "$(json "$work/student/config.json" 'd["distill"]["teacher_precision"]')" = "$native" ] ||
    fail "the student's config records the cache's teacher precision"
expect 0 report --teacher "$work/teacher" --student "$work/student" --out "$work/report" \
    --repeats 1 --rouge-examples 1 --prompt-tokens 4 --new-tokens 2 --eval-batches 1
grep -q "| cache, teacher $native |" "$work/report/report.md" ||
    fail "report.md shows the cache's teacher precision"
cli_finish
