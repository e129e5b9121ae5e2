#!/usr/bin/env bash
# QLoRA through the CLI: kd teacher train --qlora (and "qlora": true in the
# config's "lora" section) trains adapters over an NF4 base; the merged
# model/ is the dequantized base (last/) merged with the adapter;
# --stop-after / --resume are bit-exact; kd estimate and kd bench count the
# NF4 base; bad settings exit 1 with one line naming the field.
# usage: cli_qlora.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
cli_adapter_fixture
qlora=(--lora-rank 4 --lora-alpha 8 --lora-dropout 0.1 --lora-targets attn.c_attn,mlp.c_fc,mlp.c_proj
       --lora-bias all --qlora)
train=(teacher train --config "$work/run.json" --init "$work/init")

expect_refusal "need --lora-rank" "${train[@]}" --out "$work/bad" --qlora
expect_refusal "fp32" "${train[@]}" --out "$work/bad" --lora-rank 4 --qlora --precision bf16

out="$work/qlora"
expect 0 "${train[@]}" --out "$out" "${qlora[@]}"
[ "$(json "$out/config.json" 'd["lora"]["qlora"]')" = True ] || fail "config.json lacks lora.qlora"
# last/ holds the base as the run used it, dequantized from NF4: merging the
# adapter into it gives model/ to the bit, and it differs from the fp32 base.
expect 0 merge --base "$out/last" --adapter "$out/adapter" --out "$work/merged"
cmp -s "$work/merged/model.safetensors" "$out/model/model.safetensors" ||
    fail "model/ is not the dequantized base merged with the adapter"
/usr/bin/python3 - "$work/init/model.safetensors" "$out/last/model.safetensors" <<'PY' ||
import json, struct, sys
import numpy as np
def tensors(path):
    f = open(path, "rb")
    n = struct.unpack("<Q", f.read(8))[0]
    header, data = json.loads(f.read(n)), f.read()
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], "<f4")
            for k, v in header.items() if k != "__metadata__"}
fp32, nf4 = tensors(sys.argv[1]), tensors(sys.argv[2])
for name in fp32:
    if name.endswith("bias"):
        continue  # trained: bias "all"
    same = np.array_equal(fp32[name], nf4[name])
    matrix = name.split(".")[-2] in ("c_attn", "c_proj", "c_fc") and name.endswith("weight")
    assert same != matrix, (name, same)
    # an NF4 block holds at most 16 levels times one scale, close to the fp32
    if matrix:
        error = np.abs(fp32[name] - nf4[name]).max() / np.abs(fp32[name]).max()
        assert 0 < error < 0.16, (name, error)
        assert len(np.unique(nf4[name][:64])) <= 16, name
PY
    fail "last/ does not hold the NF4 base (matrices quantized, the rest fp32 to the bit)"

cli_adapter_resume_check "$out" "${train[@]}" "${qlora[@]}"

# The config's "lora" section does the same as the flags.
json "$work/run.json" 'json.dumps(dict(d, lora={"rank": 4, "alpha": 8, "dropout": 0.1, "targets": ["c_attn", "c_fc", "mlp.c_proj"], "bias": "all", "qlora": True}))' \
    >"$work/run_qlora.json"
expect 0 teacher train --config "$work/run_qlora.json" --init "$work/init" --out "$work/section"
cmp -s "$out/adapter/adapter_model.safetensors" "$work/section/adapter/adapter_model.safetensors" ||
    fail "the \"lora\" section's qlora trains another adapter than the flags"
json "$work/run.json" 'json.dumps(dict(d, lora={"rank": 4, "qlora": 1}))' >"$work/bad.json"
expect_refusal "lora.qlora must be true or false" teacher train --config "$work/bad.json" \
    --init "$work/init" --out "$work/bad"

# kd estimate: the same trainable parameters and AdamW bytes as LoRA, a base
# of NF4 matrices (2 x 12 x 32^2 weights at 0.5 + 1/64 + 4/16384 bytes, plus
# a 4C x C scratch) beside the fp32 embeddings, norms and biases.
for q in false true; do
    json "$work/tiny.json" "json.dumps(dict(d, train={'batch_size': 4, 'seq_len': 32}, lora={'rank': 4, 'targets': ['attn.c_attn', 'mlp.c_fc'], 'qlora': $([ $q = true ] && echo True || echo False)}))" \
        >"$work/estimate.json"
    expect 0 estimate --config "$work/estimate.json" --no-timing --json
    json "$work/out" 'd["trainable_params"], d["optimizer_bytes"], int(d["weights_bytes"])' \
        >"$work/estimate_$q"
done
[ "$(cat "$work/estimate_false")" = "2304 18432 6542976" ] ||
    fail "kd estimate, LoRA: $(cat "$work/estimate_false")"
[ "$(cat "$work/estimate_true")" = "2304 18432 6473760" ] ||
    fail "kd estimate, QLoRA: $(cat "$work/estimate_true")"

# kd bench: QLoRA named, its base smaller, its optimizer the adapters'.
bench=(bench --config "$work/tiny.json" --mode train --batch 2 --seq 16 --steps 1 --warmup 0
       --threads 2 --lora-rank 4 --json)
expect 0 "${bench[@]}"
json "$work/out" 'd["qlora"], d["base_mb"], d["optimizer_mb"]' >"$work/bench_lora"
expect 0 "${bench[@]}" --qlora
json "$work/out" 'd["qlora"], d["base_mb"], d["optimizer_mb"]' >"$work/bench_qlora"
/usr/bin/python3 - "$work/bench_lora" "$work/bench_qlora" <<'PY' || fail "kd bench --qlora"
import sys
lora, qlora = (open(p).read().split() for p in sys.argv[1:])
assert lora[0] == "False" and qlora[0] == "True", (lora, qlora)
assert float(qlora[1]) < float(lora[1]) and lora[2] == qlora[2], (lora, qlora)
PY
expect 2 bench --config "$work/tiny.json" --mode train --qlora

cli_finish
