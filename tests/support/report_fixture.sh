# The runs kd report is tried on, shared by the report scripts; sourced after
# cli_common.sh. report_fixture_teacher trains a tiny teacher with kd teacher
# train in $work/runs/teacher; report_fixture_student writes a student's run
# directory by hand in the layout kd student train leaves: a random model,
# config.json (with "distill" and "init" for a KD student) and metrics.jsonl
# with training rows every 2 steps and evaluations at steps 4 and 8.
make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}

report_fixture_teacher() {
    for i in $(seq 1 40); do
        printf '{"instruction": "Question %d about owls?", "context": "", "response": "Owls hunt at night, answer %d.", "category": "open_qa"}\n' "$i" "$i"
    done >"$work/data.jsonl"
    cat >"$work/teacher.json" <<JSON
{"model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257},
 "train": {"max_steps": 6, "batch_size": 4, "seq_len": 32, "eval_interval": 3, "threads": 2,
           "warmup_steps": 1, "learning_rate": 0.003, "log_every": 2},
 "data": {"files": ["$work/data.jsonl"], "tokenizer": "$assets/gpt2",
          "prompts": ["Why owls?", "What do owls eat?"]}}
JSON
    "$kd" teacher train --config "$work/teacher.json" --out "$work/runs/teacher" >/dev/null 2>&1 ||
        { echo "FAIL: kd teacher train"; exit 1; }
}

# report_fixture_student DIR SEED LOSS_OFFSET [DISTILL_JSON]: without
# DISTILL_JSON the run is a hard-label baseline (no divergence logged).
report_fixture_student() {
    local dir=$1 seed=$2 offset=$3 distill=${4:-}
    mkdir -p "$dir"
    cat >"$work/student-model.json" <<'JSON'
{"model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64, "vocab_size": 50257}}
JSON
    "$make_model" "$work/student-model.json" "$dir/model" "$assets/gpt2" "$seed" ||
        { echo "FAIL: make_model_dir"; exit 1; }
    cat >"$dir/config.json" <<JSON
{"model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64, "vocab_size": 50257},
 "train": {"max_steps": 8, "batch_size": 4, "seq_len": 32, "learning_rate": 0.002, "seed": $seed},
 "data": {"files": ["$work/data.jsonl"], "tokenizer": "$assets/gpt2"}${distill:+,
 \"distill\": $distill, \"init\": {\"from\": \"random\"}}}
JSON
    python3 - "$dir/metrics.jsonl" "$offset" "${distill:+kd}" <<'PY'
import json, sys
path, offset, kd = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "kd"
with open(path, "w") as out:
    for step in (2, 4, 6, 8):
        ce = 10.0 - 0.2 * step + offset
        row = {"type": "train", "step": step, "epoch": step / 8, "tokens": 128 * step,
               "train_loss": ce, "train_ce": ce, "lr": 0.002, "grad_norm": 1.5,
               "tokens_per_s": 900, "elapsed_s": step * 0.3125, "skipped_steps": 0}
        if kd:
            row["train_divergence"] = 0.6 - 0.04 * step + offset
            row["train_loss"] = 0.5 * ce + 0.5 * 4 * row["train_divergence"]
        print(json.dumps(row), file=out)
        if step % 4 == 0:
            val = 9.75 - 0.1875 * step + offset
            print(json.dumps(dict(row, type="eval", val_loss=val, val_ppl=2.718281828 ** val,
                                  val_accuracy=0.1)), file=out)
PY
}

# The distill section of a KD student with top-K cache logits.
report_fixture_distill() { # ALPHA TOPK SAMPLES
    printf '{"alpha": %s, "temperature": 2.0, "divergence": "forward_kl", "jsd_beta": 0.5, "source": "cache", "cache": "runs/x/cache", "teacher": "runs/x/teacher/model", "topk": %s, "samples": %s}' "$1" "$2" "$3"
}
