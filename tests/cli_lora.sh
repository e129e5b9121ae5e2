#!/usr/bin/env bash
# LoRA through the CLI: kd teacher train --lora-* (and the config's "lora"
# section) leaves a PEFT adapter and the merged model; --stop-after /
# --resume are bit-exact; kd merge gives the run's merged model; kd eval and
# kd generate --adapter run the adapter unmerged and agree with it; bad
# settings, adapters and bases exit 1 with one line naming the field.
# usage: cli_lora.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}
cli_adapter_fixture
lora=(--lora-rank 4 --lora-alpha 8 --lora-dropout 0.1 --lora-targets attn.c_attn,mlp.c_proj
      --lora-bias all)

train=(teacher train --config "$work/run.json" --init "$work/init")
expect_refusal "lora-rank must be positive" "${train[@]}" --out "$work/bad" --lora-rank 0
expect_refusal "lora rank 64 is larger than attn.c_attn's dimensions 32 x 96" \
    "${train[@]}" --out "$work/bad" --lora-rank 64
expect_refusal "valid: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj" \
    "${train[@]}" --out "$work/bad" --lora-rank 4 --lora-targets attn.q_proj
expect_refusal "lora bias" "${train[@]}" --out "$work/bad" --lora-rank 4 --lora-bias lora_only
expect_refusal "need --lora-rank" "${train[@]}" --out "$work/bad" --lora-alpha 16

# The run: adapter/ in PEFT's layout beside the merged model/.
out="$work/lora"
expect 0 "${train[@]}" --out "$out" "${lora[@]}"
for f in adapter/adapter_config.json adapter/adapter_model.safetensors model/model.safetensors \
         last/adapter_model.safetensors last/optimizer.safetensors; do
    [ -s "$out/$f" ] || fail "LoRA run lacks $f"
done
[ "$(json "$out/adapter/adapter_config.json" \
    'd["peft_type"], d["r"], d["lora_alpha"], d["lora_dropout"], d["target_modules"], d["fan_in_fan_out"], d["bias"], d["base_model_name_or_path"].endswith("init")')" = \
  "LORA 4 8 0.1 ['attn.c_attn', 'mlp.c_proj'] True all True" ] ||
    fail "adapter_config.json: $(cat "$out/adapter/adapter_config.json")"
/usr/bin/python3 - "$out/adapter/adapter_model.safetensors" <<'PY' || fail "adapter tensor names"
import json, struct, sys
f = open(sys.argv[1], "rb")
header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
shapes = {k: v["shape"] for k, v in header.items() if k != "__metadata__"}
assert shapes["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"] == [4, 32]
assert shapes["base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight"] == [32, 4]
assert shapes["base_model.model.transformer.ln_f.bias"] == [32]
assert len(shapes) == 2 * 2 * 2 + 2 * 6 + 1, len(shapes)
PY

cli_adapter_resume_check "$out" "${train[@]}" "${lora[@]}"

# kd merge gives the run's merged model; eval and generate run it unmerged.
expect 0 merge --base "$work/init" --adapter "$out/adapter" --out "$work/merged"
cmp -s "$work/merged/model.safetensors" "$out/model/model.safetensors" ||
    fail "kd merge differs from the run's model/"
cmp -s "$work/merged/model.safetensors" "$work/init/model.safetensors" &&
    fail "the merged model equals the base: the adapter did nothing"
expect 0 eval --model "$out/model" --data "$work/data.jsonl" --json
merged_loss=$(json "$work/out" 'd["loss"]')
expect 0 eval --model "$work/init" --adapter "$out/adapter" --data "$work/data.jsonl" --json
unmerged_loss=$(json "$work/out" 'd["loss"]')
/usr/bin/python3 -c "import sys; a, b = map(float, sys.argv[1:]); assert abs(a - b) < 1e-5 * a" \
    "$merged_loss" "$unmerged_loss" || fail "eval --adapter $unmerged_loss vs merged $merged_loss"
gen=(generate --prompt "Why owls?" --temperature 0 --max-new-tokens 16)
expect 0 "${gen[@]}" --model "$out/model"
cp "$work/out" "$work/merged.txt"
expect 0 "${gen[@]}" --model "$work/init"
cmp -s "$work/out" "$work/merged.txt" && fail "the adapter does not change the greedy text"
expect 0 "${gen[@]}" --model "$work/init" --adapter "$out/adapter"
cmp -s "$work/out" "$work/merged.txt" || fail "generate --adapter differs from the merged model"

# The config's "lora" section does the same as the flags.
/usr/bin/python3 - "$work/run.json" "$work/run_lora.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["lora"] = {"rank": 4, "alpha": 8, "dropout": 0.1, "targets": ["c_attn", "mlp.c_proj"],
                  "bias": "all"}
json.dump(config, open(sys.argv[2], "w"))
PY
expect 0 teacher train --config "$work/run_lora.json" --init "$work/init" --out "$work/section"
cmp -s "$out/adapter/adapter_model.safetensors" "$work/section/adapter/adapter_model.safetensors" ||
    fail "the \"lora\" section trains another adapter than the flags"

# kd estimate with the section: gradients and AdamW state for the adapters alone
# (r 4 on c_attn 32 -> 96 and mlp.c_proj 128 -> 32, 2 layers; every bias), and
# the frozen matrices' weight gradients counted as skipped.
json "$work/tiny.json" 'json.dumps(dict(d, train={"batch_size": 4, "seq_len": 32}, lora={"rank": 4, "targets": ["attn.c_attn", "mlp.c_proj"], "bias": "all"}))' \
    >"$work/estimate.json"
expect 0 estimate --config "$work/estimate.json" --no-timing --json
[ "$(json "$work/out" 'd["trainable_params"], d["optimizer_bytes"], d["flops_saved_per_token"] > 0')" = \
  "3040 24320 True" ] || fail "kd estimate with lora: $(cat "$work/out")"

# Adapters that do not fit, or use what kd does not implement.
echo '{"model": {"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}}' \
    >"$work/shallow.json"
"$make_model" "$work/shallow.json" "$work/shallow" "$assets/gpt2" 3 || fail "make_model_dir"
expect_refusal "unexpected tensor base_model.model.transformer.h.1.attn.c_attn.lora_A.weight" \
    merge --base "$work/shallow" --adapter "$out/adapter" --out "$work/nowhere"
mkdir -p "$work/dora"
cp "$out/adapter/adapter_model.safetensors" "$work/dora/"
json "$out/adapter/adapter_config.json" 'json.dumps(dict(d, use_dora=True))' \
    >"$work/dora/adapter_config.json"
expect_refusal "use_dora: DoRA is not supported" merge --base "$work/init" --adapter "$work/dora" \
    --out "$work/nowhere"
json "$out/adapter/adapter_config.json" 'json.dumps(dict(d, modules_to_save=["lm_head"]))' \
    >"$work/dora/adapter_config.json"
expect_refusal "modules_to_save" eval --model "$work/init" --adapter "$work/dora" --data "$work/data.jsonl"
json "$out/adapter/adapter_config.json" 'json.dumps(dict(d, peft_type="IA3"))' \
    >"$work/dora/adapter_config.json"
expect_refusal "peft_type" generate --model "$work/init" --adapter "$work/dora" --prompt hi
expect 2 merge --base "$work/init"

cli_finish
