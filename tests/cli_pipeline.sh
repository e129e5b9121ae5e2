#!/usr/bin/env bash
# kd pipeline end to end on tiny models and 48 real dolly records: every
# stage's output, a rerun that skips everything, an added student that
# re-uses the teacher and the cache, an interrupted stage that resumes, a
# changed teacher that redoes what follows, and bad pipeline files.
# usage: cli_pipeline.sh KD ASSETS_DIR
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
cli_need_assets gpt2/vocab.json dolly/dolly-open_qa.jsonl

head -n 48 "$assets/dolly/dolly-open_qa.jsonl" >"$work/data.jsonl"
# model_config NAME SHAPE EXTRA: 3 steps, one evaluation at the end.
model_config() { cli_dolly_config "$1" "$2" 3 3 "$3"; }
model_config teacher '{"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}' ''
model_config small '{"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64, "vocab_size": 50257}' \
    ', "distill": {"alpha": 0.5, "temperature": 1.0}'
model_config shallow '{"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}' \
    ', "init": {"from": "teacher"}, "distill": {"alpha": 0.5}'
# pipeline NAME STUDENTS: a pipeline file in $work.
pipeline() {
    cat >"$work/$1.json" <<JSON
{"name": "$1", "out": "$work/runs/$1", "threads": 2,
 "teacher": {"config": "teacher.json"},
 "cache": {"topk": 8},
 "students": [$2],
 "report": {"rouge_examples": 2, "repeats": 1, "eval_batches": 1}}
JSON
}
pipeline one '{"name": "small", "config": "small.json"}'
out="$work/runs/one"

expect 0 pipeline --help
expect 2 pipeline "$work/one.json" --bogus
expect 0 pipeline "$work/one.json"
for f in teacher/model/model.safetensors teacher/metrics.jsonl cache/manifest.json \
    students/small-kd/model/model.safetensors students/small-baseline/model/model.safetensors \
    report/report.json report/report.md report/loss_curves.svg; do
    [ -f "$out/$f" ] || fail "pipeline output lacks $f"
done
grep -q "report.md" "$work/out" || fail "the pipeline names its report"
[ "$(json "$out/report/report.json" "[m['role'] for m in d['models']]")" = \
    "['teacher', 'student', 'baseline']" ] || fail "report roles: $(cat "$out/report/report.json" | head -c 300)"
[ "$(json "$out/students/small-baseline/config.json" "d['distill']['alpha'], d['init']['from']")" \
    = "1 random" ] || fail "the baseline trains on hard labels alone from random weights"

# Nothing changed: every stage is skipped.
expect 0 pipeline "$work/one.json"
[ "$(grep -c "is up to date" "$work/err")" -eq 5 ] || fail "rerun redid work: $(cat "$work/err")"
# A record where older versions kept it, in the stage directory, still counts.
mv "$out/pipeline-stages/teacher.json" "$out/teacher/pipeline-stage.json"
expect 0 pipeline "$work/one.json"
grep -q "teacher is up to date" "$work/err" || fail "a record in the stage directory is read: $(cat "$work/err")"
mv "$out/teacher/pipeline-stage.json" "$work/teacher-record.json"
# With no record, files in a stage directory are not the pipeline's to replace.
before=$(md5sum "$out/teacher/model/model.safetensors" "$out/teacher/last/model.safetensors")
expect 1 pipeline "$work/one.json"
grep -q "$out/teacher holds files that no pipeline record accounts for" "$work/err" ||
    fail "unrecorded files refused: $(cat "$work/err")"
[ "$before" = "$(md5sum "$out/teacher/model/model.safetensors" "$out/teacher/last/model.safetensors")" ] ||
    fail "the refused pipeline changed the teacher"
mv "$work/teacher-record.json" "$out/pipeline-stages/teacher.json"

# A second student: teacher and cache re-used, the first student too.
pipeline two '{"name": "small", "config": "small.json"}, {"name": "shallow", "config": "shallow.json", "baseline": false}'
sed -i "s|\"out\": \"$work/runs/two\"|\"out\": \"$out\"|" "$work/two.json"
expect 0 pipeline "$work/two.json"
grep -q "teacher is up to date" "$work/err" || fail "teacher redone for a new student"
grep -q "cache is up to date" "$work/err" || fail "cache redone for a new student"
grep -q "running student shallow" "$work/err" || fail "new student not trained"
[ -d "$out/students/shallow-baseline" ] && fail "baseline: false still trained a baseline"
[ "$(json "$out/report/report.json" "len(d['models'])")" = 4 ] || fail "report has 4 models"

# An interrupted student stage resumes from its checkpoint.
sed -i 's/"complete":\ttrue/"complete":\tfalse/' "$out/pipeline-stages/small-kd.json"
grep -q '"complete":.false' "$out/pipeline-stages/small-kd.json" || fail "stage record not edited"
expect 0 pipeline "$work/two.json"
grep -q "resuming student small" "$work/err" || fail "interrupted stage not resumed: $(cat "$work/err")"

# A changed teacher config redoes the teacher and everything after it.
sed -i 's/"learning_rate": 0.003/"learning_rate": 0.002/' "$work/teacher.json"
expect 0 pipeline "$work/two.json"
[ "$(grep -c "is up to date" "$work/err")" -eq 0 ] || fail "stale stages kept: $(cat "$work/err")"
grep -q "pipeline: redoing teacher -> $out/teacher: $work/teacher.json changed" "$work/err" ||
    fail "the redone teacher says why: $(grep redoing "$work/err")"
grep -q "pipeline: redoing cache -> $out/cache: the teacher changed" "$work/err" ||
    fail "the redone cache says why: $(grep redoing "$work/err")"

# Quantized rows in the report: --quantize, or the same list as the config's
# report.quantize, redoes the report alone, with a q8_0 row per model.
expect 2 pipeline "$work/two.json" --quantize q9_0
expect 0 pipeline "$work/two.json" --quantize q8_0
[ "$(grep -c "is up to date" "$work/err")" -eq 5 ] || fail "--quantize redid training: $(cat "$work/err")"
grep -q "pipeline: redoing report -> $out/report: report.quantize changed" "$work/err" ||
    fail "the redone report says why: $(grep redoing "$work/err")"
[ "$(json "$out/report/report.json" "[(m['name'], m['quantization']) for m in d['models']]")" = \
    "[('teacher', None), ('teacher', 'q8_0'), ('small-kd', None), ('small-kd', 'q8_0'), ('small-baseline', None), ('small-baseline', 'q8_0'), ('shallow-kd', None), ('shallow-kd', 'q8_0')]" ] ||
    fail "report rows with --quantize: $(head -c 400 "$out/report/report.json")"
[ -s "$out/report/gguf/shallow-kd.q8_0.gguf" ] || fail "no GGUF file of shallow-kd"
sed -i 's/"eval_batches": 1}/"eval_batches": 1, "quantize": ["q8_0"]}/' "$work/two.json"
expect 0 pipeline "$work/two.json"
grep -q "report is up to date" "$work/err" || fail "report.quantize is not --quantize's list: $(cat "$work/err")"
expect 0 pipeline "$work/two.json" --quantize none
grep -q "pipeline: redoing report -> $out/report: report.quantize changed" "$work/err" ||
    fail "--quantize none keeps the config's types: $(grep redoing "$work/err")"
[ "$(json "$out/report/report.json" "len(d['models'])")" = 4 ] || fail "--quantize none still quantized"

# Bad pipeline files name what is wrong.
echo '{"name": "x", "students": []}' >"$work/bad.json"
expect 1 pipeline "$work/bad.json"
grep -q "teacher" "$work/err" || fail "missing teacher section named"
pipeline dup '{"name": "a", "config": "small.json"}, {"name": "a", "config": "small.json"}'
expect 1 pipeline "$work/dup.json"
grep -q 'two students are named "a"' "$work/err" || fail "duplicate names refused"
pipeline missing '{"name": "a", "config": "nowhere.json"}'
expect 1 pipeline "$work/missing.json"
grep -q "nowhere.json" "$work/err" || fail "missing config named"
expect 1 pipeline "$work/absent.json"
sed 's/"quantize": \["q8_0"\]/"quantize": ["q8_0", "q8_0"]/' "$work/two.json" >"$work/twice.json"
expect 1 pipeline "$work/twice.json"
grep -q "report.quantize.*q8_0 is listed twice" "$work/err" || fail "a repeated type: $(cat "$work/err")"

cli_finish
