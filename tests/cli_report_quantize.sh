#!/usr/bin/env bash
# kd report --quantize and GGUF models: a tiny teacher (2 x 32, every matrix
# in whole 32-value blocks) and a distilled student, each also exported as
# q8_0 and q4_0 GGUF files and measured from them. Checks every quantized
# row against what other commands say of the same file: its bytes are those
# of `kd export` of the same model (byte for byte), its validation loss is
# `kd eval --quantize` on the same split, its change and agreements are
# consistent with its fp32 row; GGUF files given as --teacher, --student or
# --model are reported as stored; kd report diff matches quantized rows by
# type; bad --quantize lists are usage errors (2), a bad GGUF file exit 1.
# usage: cli_report_quantize.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
. "$(dirname "$0")/support/report_fixture.sh"
cli_need_assets gpt2/vocab.json

report_fixture_teacher
report_fixture_student "$work/runs/students/tiny-kd" 5 0 "$(report_fixture_distill 0.5 32 0)"
teacher=$work/runs/teacher
student=$work/runs/students/tiny-kd
speed=(--repeats 1 --prompt-tokens 16 --new-tokens 8 --rouge-examples 3)

expect 2 report --teacher "$teacher" --student "$student" --out "$work/bad" --quantize q5_1
expect 2 report --teacher "$teacher" --student "$student" --out "$work/bad" --quantize q8_0,q8_0
expect 2 report --teacher "$teacher" --student "$student" --out "$work/bad" --quantize f32
expect 2 report --teacher "$teacher" --student "$student" --out "$work/bad" --quantize q8_0,

out=$work/report
expect 0 report --teacher "$teacher" --student "$student" --out "$out" --quantize q8_0,q4_0 \
    "${speed[@]}"
for type in q8_0 q4_0; do
    for name in teacher tiny-kd; do
        [ -s "$out/gguf/$name.$type.gguf" ] || fail "no $out/gguf/$name.$type.gguf"
    done
    # The row's file is what kd export writes for the same model and type.
    expect 0 export --model "$teacher/model" --out "$work/teacher.$type.gguf" --type "$type"
    cmp -s "$work/teacher.$type.gguf" "$out/gguf/teacher.$type.gguf" ||
        fail "the report's teacher $type file differs from kd export's"
    expect 0 eval --model "$teacher/model" --quantize "$type" --json
    cp "$work/out" "$work/eval-$type.json"
done
# The report measures fp32 weights in fp32, whatever auto would choose here.
expect 0 eval --model "$teacher/model" --json --precision fp32
cp "$work/out" "$work/eval-f32.json"

python3 - "$out/report.json" "$work" <<'PY' || fail "report.json: $(head -c 800 "$out/report.json")"
import json, os, sys
report, work = json.load(open(sys.argv[1])), sys.argv[2]
models = report["models"]
assert report["machine"]["quant_kernel"] in ("portable", "avx2", "avx512", "vnni"), report["machine"]
rows = [(m["name"], m["quantization"]) for m in models]
assert rows == [("teacher", None), ("teacher", "q8_0"), ("teacher", "q4_0"),
                ("tiny-kd", None), ("tiny-kd", "q8_0"), ("tiny-kd", "q4_0")], rows
by = {(m["name"], m["quantization"]): m for m in models}
evals = {t: json.load(open(f"{work}/eval-{t}.json")) for t in ("f32", "q8_0", "q4_0")}
for (name, q), m in by.items():
    fp32 = by[(name, None)]
    assert m["role"] == fp32["role"] and m["params"] == fp32["params"], name
    for key in ("prefill_tokens_per_s", "gen_tokens_per_s", "peak_rss_mb", "rouge_l", "val_loss"):
        assert isinstance(m[key], (int, float)) and m[key] >= 0, (name, q, key, m[key])
    on_disk = m["path"] if q else m["path"] + "/model.safetensors"
    assert m["file_bytes"] == os.path.getsize(on_disk), (name, q)
    assert len(m["answers"]) == 2, (name, q)
    if q is None:
        assert m["val_loss_vs_fp32"] is None and m["top1_agreement_fp32"] is None
        assert m["quantized_from"] is None
        continue
    assert m["path"] == f"{work}/report/gguf/{name}.{q}.gguf", m["path"]
    assert m["quantized_from"] == fp32["path"], m["quantized_from"]
    assert abs(m["val_loss_vs_fp32"] - (m["val_loss"] - fp32["val_loss"])) < 1e-9, (name, q)
    assert 0 <= m["top1_agreement_fp32"] <= 1 and 0 <= m["top1_agreement"] <= 1
# The teacher's own fp32 argmax is what both agreements compare with.
for q in ("q8_0", "q4_0"):
    t = by[("teacher", q)]
    assert t["top1_agreement"] == t["top1_agreement_fp32"], t
    # The same loss kd eval gives for the same weights on the same split.
    assert abs(t["val_loss"] - evals[q]["loss"]) < 1e-6 * evals[q]["loss"], (t["val_loss"], evals[q])
    # Measured on the quantized weights, not on the fp32 ones.
    assert abs(t["val_loss"] - evals["f32"]["loss"]) > 1e-6 * evals["f32"]["loss"], (q, t["val_loss"])
assert abs(by[("teacher", None)]["val_loss"] - evals["f32"]["loss"]) < 1e-6 * evals["f32"]["loss"]
# 4-bit blocks hold less than 8-bit ones, and both less than fp32.
teacher = by[("teacher", None)]
assert by[("teacher", "q4_0")]["file_bytes"] < by[("teacher", "q8_0")]["file_bytes"] < teacher["file_bytes"]
assert by[("teacher", "q8_0")]["top1_agreement_fp32"] >= 0.9, by[("teacher", "q8_0")]
assert abs(by[("teacher", "q8_0")]["val_loss_vs_fp32"]) < 0.02 * teacher["val_loss"]
# A random student agrees with its own fp32 self far more than with the teacher.
for q in ("q8_0", "q4_0"):
    s = by[("tiny-kd", q)]
    assert s["top1_agreement_fp32"] > s["top1_agreement"] + 0.5, s
PY

for text in "| teacher (q8_0) | teacher |" "| tiny-kd (q4_0) |" "vs fp32" "agreement with fp32" \
            "on disk MB"; do
    grep -qF -- "$text" "$out/report.md" || fail "report.md lacks '$text'"
done
# Quantized rows were not trained: the training table holds the fp32 rows only.
sed -n '/^## Training/,/^## Charts/p' "$out/report.md" | grep -q "(q8_0)" &&
    fail "the training table lists a quantized row"
[ "$(grep -c "<svg" "$out/report.html")" -eq 5 ] || fail "report.html should inline 5 charts"
for chart in size_vs_loss size_vs_speed speed_vs_loss; do
    svg=$out/$chart.svg
    grep -q ">teacher q8_0</text>" "$svg" || fail "$chart.svg does not name teacher q8_0"
    grep -q ">tiny-kd q4_0</text>" "$svg" || fail "$chart.svg does not name tiny-kd q4_0"
    # A diamond (a path ending in z) for each quantized row, on the plot and
    # in the legend; a circle for each fp32 one.
    [ "$(grep -c '<path d="M[^"]*z"' "$svg")" -eq 8 ] || fail "$chart.svg: not 4 diamonds"
    [ "$(grep -c '<circle' "$svg")" -eq 4 ] || fail "$chart.svg: not 2 circles"
done
grep -q "MB on disk" "$out/size_vs_loss.svg" || fail "size_vs_loss.svg is not against bytes"

# GGUF files as models: measured as stored, the same figures as the rows
# they were exported for; a GGUF teacher takes its split from a student run.
gguf=$work/gguf-report
expect 0 report --teacher "$teacher" --student "$out/gguf/tiny-kd.q8_0.gguf" \
    --model "$out/gguf/teacher.q4_0.gguf" --out "$gguf" --quantize q8_0 "${speed[@]}"
expect 0 report --teacher "$out/gguf/teacher.q8_0.gguf" --student "$student" \
    --out "$work/gguf-teacher" "${speed[@]}"
python3 - "$out/report.json" "$gguf/report.json" "$work/gguf-teacher/report.json" <<'PY' ||
import json, sys
first, second, third = (json.load(open(p))["models"] for p in sys.argv[1:])
by = {(m["name"], m["quantization"]): m for m in first}
rows = [(m["name"], m["quantization"]) for m in second]
# Only the directory gets --quantize rows; the files are reported as stored.
assert rows == [("teacher", None), ("teacher", "q8_0"), ("tiny-kd.q8_0", "q8_0"),
                ("teacher.q4_0", "q4_0")], rows
for row, source in ((second[2], by[("tiny-kd", "q8_0")]), (second[3], by[("teacher", "q4_0")])):
    for key in ("val_loss", "top1_agreement", "rouge_l", "file_bytes", "params"):
        assert abs(row[key] - source[key]) <= 1e-9 * max(1, abs(source[key])), (row["name"], key)
    assert row["answers"] == source["answers"]
    assert row["run"] is None and row["quantized_from"] is None
assert third[0]["quantization"] == "q8_0" and third[0]["name"] == "teacher.q8_0"
assert abs(third[0]["val_loss"] - by[("teacher", "q8_0")]["val_loss"]) < 1e-9
assert third[0]["top1_agreement"] == 1 and third[0]["role"] == "teacher"
PY
    fail "GGUF models: $(head -c 600 "$gguf/report.json")"

# kd report diff pairs each quantized row with the row of the same type.
expect 0 report diff "$out/report.json" "$gguf/report.json" --out "$work/diff"
python3 - "$work/diff/diff.json" "$out/report.json" <<'PY' || fail "diff.json: $(head -c 600 "$work/diff/diff.json")"
import json, sys
diff, report = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
loss = {(r["model"], r["key"]): r for r in diff["results"]}
assert {m for m, _ in loss} == {"teacher", "teacher q8_0"}, sorted(loss)
row = loss[("teacher q8_0", "val_loss")]
quantized = [m for m in report["models"] if m["name"] == "teacher" and m["quantization"] == "q8_0"][0]
assert row["a"] == row["b"] == "%.4f" % quantized["val_loss"], row
assert ("teacher q8_0", "top1_agreement_fp32") in loss
PY
grep -q "Only in A: teacher q4_0 (teacher)" "$work/out" || fail "diff does not list teacher q4_0 as A's alone"

# Two models of one name would write the same files: refused before either is measured.
expect 1 report --teacher "$teacher" --student "$teacher/model" --out "$work/bad" --quantize q8_0
grep -q 'another model is also named "teacher"' "$work/err" || fail "a name twice: $(cat "$work/err")"

# A damaged GGUF file: exit 1, one line naming it.
head -c 1000 "$out/gguf/tiny-kd.q8_0.gguf" >"$work/cut.gguf"
expect 1 report --teacher "$teacher" --student "$work/cut.gguf" --out "$work/bad" "${speed[@]}"
[ "$(wc -l <"$work/err")" -eq 1 ] && grep -q "cut.gguf" "$work/err" ||
    fail "a truncated GGUF: expected one line naming it: $(cat "$work/err")"

cli_finish
