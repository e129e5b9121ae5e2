#!/usr/bin/env bash
# kd report end to end on tiny models: a teacher trained by kd teacher train,
# a distilled student and a hard-label baseline whose run directories are
# written by hand in the layout kd student train leaves (config.json with
# "distill" and "init", metrics.jsonl), one given as its model/ directory.
# Checks report.json's fields, report.md's and report.html's sections, the
# charts, usage errors (2) and bad input (1, one line on stderr).
# usage: cli_report.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
. "$(dirname "$0")/support/report_fixture.sh"
cli_need_assets gpt2/vocab.json

report_fixture_teacher
report_fixture_student "$work/runs/students/tiny-kd" 5 0 "$(report_fixture_distill 0.5 32 0)"
report_fixture_student "$work/runs/students/hard" 6 0.1

expect 2 report
expect 0 report --help
expect 2 report --teacher "$work/runs/teacher" --out "$work/report"
expect 2 report --teacher "$work/runs/teacher" --student "$work/runs/teacher" --out "$work/r" \
    --repeats 0

out="$work/report"
expect 0 report --teacher "$work/runs/teacher" --student "$work/runs/students/tiny-kd" \
    --student "$work/runs/students/hard/model" --out "$out" --repeats 2 --rouge-examples 4
for f in report.json report.md report.html loss_curves.svg distillation.svg size_vs_loss.svg \
         size_vs_speed.svg; do
    [ -s "$out/$f" ] || fail "report lacks $f"
done
python3 - "$out/report.json" "$work" <<'PY' || fail "report.json: $(head -c 600 "$out/report.json")"
import json, math, sys
report, work = json.load(open(sys.argv[1])), sys.argv[2]
teacher, student, baseline = report["models"]
assert [m["name"] for m in report["models"]] == ["teacher", "tiny-kd", "hard"]
assert [m["role"] for m in report["models"]] == ["teacher", "student", "baseline"]
assert baseline["path"] == work + "/runs/students/hard/model", baseline["path"]
assert report["machine"]["cpu"] and report["machine"]["threads"] >= 1
assert report["settings"]["validation_examples"] > 0
assert report["settings"]["rouge_examples"] == 4
for m in report["models"]:
    for key in ("params", "non_embedding_params", "bytes_fp32", "bytes_fp16", "val_loss",
                "val_ppl", "top1_agreement", "rouge_l", "prefill_tokens_per_s",
                "gen_tokens_per_s", "peak_rss_mb"):
        assert isinstance(m[key], (int, float)) and m[key] >= 0, (m["name"], key, m[key])
    assert m["bytes_fp32"] == 4 * m["params"] and m["bytes_fp16"] == 2 * m["params"]
    assert 0 <= m["rouge_l"] <= 1 and 0 <= m["top1_agreement"] <= 1
    assert abs(m["val_ppl"] - math.exp(m["val_loss"])) < 1e-6 * m["val_ppl"]
    assert len(m["answers"]) == 2
# 1 layer x 16 wide: wte 50257*16 + wpe 64*16 + one block and ln_f.
assert student["params"] == 50257 * 16 + 64 * 16 + (16 * 4 + 16 * 48 + 48 + 16 * 16 + 16 + 16 * 64 + 64 + 64 * 16 + 16) + 32
assert student["non_embedding_params"] == student["params"] - 50257 * 16 - 64 * 16
assert teacher["top1_agreement"] == 1 and teacher["params_ratio"] == 1
assert abs(student["params_ratio"] - student["params"] / teacher["params"]) < 1e-12
assert abs(student["gen_speedup"] * teacher["gen_tokens_per_s"] - student["gen_tokens_per_s"]) < 1e-6 * student["gen_tokens_per_s"]
assert student["alpha"] == 0.5 and student["temperature"] == 2 and student["topk"] == 32
assert student["divergence"] == "forward_kl" and student["logits_from_cache"] is True
assert student["init"] == {"from": "random"}
assert report["schema_version"] == 2 and report["settings"]["validation_batches"] >= 1
assert all(m["quantization"] is None for m in report["models"])
assert student["seed"] == 5 and baseline["seed"] == 6
assert all(m["val_loss_stderr"] is None or m["val_loss_stderr"] >= 0 for m in report["models"])
assert student["steps"] == 8 and student["train_wall_s"] == 2.5
assert baseline["alpha"] is None and baseline["steps"] == 8
assert teacher["steps"] == 6 and teacher["train_wall_s"] > 0
PY
for section in "## Size" "## Speed" "## Memory" "## Quality" "## Training" "## Generations" \
               "### Why owls?" "| tiny-kd |" "forward_kl"; do
    grep -qF -- "$section" "$out/report.md" || fail "report.md lacks '$section'"
done
grep -q "tiny-kd validation" "$out/loss_curves.svg" || fail "loss curves lack the student's curve"
grep -q "training tokens seen" "$out/loss_curves.svg" || fail "loss curves are not against tokens"
grep -q ">tiny-kd</text>" "$out/distillation.svg" || fail "the distillation chart lacks the student"
grep -q ">hard</text>" "$out/distillation.svg" && fail "a baseline has no distillation term"
grep -q "Pareto front" "$out/size_vs_loss.svg" || fail "size_vs_loss.svg lacks the Pareto front"
# report.html: one page holding everything, fetching nothing.
[ "$(grep -c "<svg" "$out/report.html")" -eq 5 ] || fail "report.html should inline 5 charts"
for section in "<h2>Size</h2>" "<h2>Training</h2>" "<h2>Generations</h2>" 'class="answers"' \
               '<meta name="viewport"' "@media print"; do
    grep -qF -- "$section" "$out/report.html" || fail "report.html lacks '$section'"
done
grep -Eiq '<script|<link|<img|@import|url\(|src=' "$out/report.html" &&
    fail "report.html loads something from elsewhere"
grep -q "</svg>" "$out/size_vs_speed.svg" || fail "size_vs_speed.svg is not finished"

# Bad input: exit 1 with a one-line message naming the cause.
expect_refusal "no such directory" report --teacher "$work/nowhere" \
    --student "$work/runs/students/hard" --out "$work/bad"
mkdir -p "$work/empty"
expect_refusal "neither a run directory" report --teacher "$work/runs/teacher" \
    --student "$work/empty" --out "$work/bad"
cat >"$work/other-vocab.json" <<'JSON'
{"model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64, "vocab_size": 300}}
JSON
"$make_model" "$work/other-vocab.json" "$work/small-vocab" "$assets/gpt2" 1 >/dev/null
expect_refusal "vocabulary of 300 tokens" report --teacher "$work/runs/teacher" \
    --student "$work/small-vocab" --out "$work/bad"
# Same size, other merges: a different tokenizer all the same.
cp -r "$work/runs/students/hard/model" "$work/other-merges"
sed -i '$d' "$work/other-merges/merges.txt"
expect_refusal "another vocabulary" report --teacher "$work/runs/teacher" \
    --student "$work/other-merges" --out "$work/bad"
[ ! -e "$work/bad/report.json" ] || fail "a refused report left report.json behind"

cli_finish
