#!/usr/bin/env bash
# kd's LoRA adapters in llama.cpp: a base trained here on the dolly open_qa
# records is fine-tuned through LoRA on the other categories; kd export
# writes the base as GGUF and the adapter as a llama.cpp LoRA GGUF, and
# llama.cpp (node-llama-cpp, createContext's lora option; without the
# package this test fails) runs base + adapter:
#   - its greedy continuations equal kd generate on the run's merged model
#     wherever the top-2 margin is clear;
#   - over 2,000 positions of held-out text its argmaxes agree with kd's on
#     the merged model (>= 99%), and the adapter changes some of them, so the
#     agreement is not the base's;
#   - the adapter GGUF holds llama.cpp's keys and the tensors' shapes;
# and adapters kd cannot write that way, or that do not fit their base, exit 1.
# usage: cli_llama_cpp_lora.sh KD ASSETS_DIR   (KD_TEACHER_FORCING from ctest)
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
. "$(dirname "$0")/support/llama_cpp_common.sh"

# The base: the llama.cpp check's model (2 x 128, 300 steps on 1,200 records).
llama_cpp_base
base=$work/teacher/model
# The fine-tune: r 8, alpha 32 on all four targets, 100 steps on the mixed records.
cli_dolly_config tune "$llama_cpp_shape" 100 50 ""
json "$work/tune.json" 'json.dumps(dict(d, train=dict(d["train"], learning_rate=0.01)))' \
    >"$work/tune_lr.json"
expect 0 teacher train --config "$work/tune_lr.json" --init "$base" --out "$work/tuned" \
    --data "$assets/dolly/dolly-mixed.jsonl" --lora-rank 8 --lora-alpha 32 \
    --lora-targets attn.c_attn,attn.c_proj,mlp.c_fc,mlp.c_proj
merged=$work/tuned/model
expect 0 export --model "$base" --out "$work/base.gguf" --type f32
expect 0 export --adapter "$work/tuned/adapter" --out "$work/lora.gguf"
expect 0 export --adapter "$work/tuned/adapter" --model "$work/base.gguf" --out "$work/lora2.gguf"
cmp -s "$work/lora.gguf" "$work/lora2.gguf" || fail "the base named by --model changed the file"

# The file: llama.cpp's keys, and per matrix lora_a ne [in, r], lora_b ne [r, out].
python3 - "$work/lora.gguf" <<'PY' || fail "the adapter GGUF's keys or shapes"
import struct, sys
f = open(sys.argv[1], "rb").read()
assert f[:4] == b"GGUF" and struct.unpack_from("<I", f, 4)[0] == 3
tensors, kvs = struct.unpack_from("<QQ", f, 8)
pos, keys = 24, {}
def string(pos):
    n = struct.unpack_from("<Q", f, pos)[0]
    return f[pos + 8:pos + 8 + n].decode(), pos + 8 + n
for _ in range(kvs):
    key, pos = string(pos)
    kind = struct.unpack_from("<I", f, pos)[0]
    pos += 4
    if kind == 8:
        keys[key], pos = string(pos)
    elif kind == 6:
        keys[key] = struct.unpack_from("<f", f, pos)[0]
        pos += 4
    else:
        raise SystemExit(f"unexpected key type {kind} for {key}")
assert keys == {"general.architecture": "gpt2", "general.type": "adapter",
                "adapter.type": "lora", "adapter.lora.alpha": 32.0}, keys
shapes = {}
for _ in range(tensors):
    name, pos = string(pos)
    ndim = struct.unpack_from("<I", f, pos)[0]
    ne = struct.unpack_from("<%dQ" % ndim, f, pos + 4)
    kind = struct.unpack_from("<I", f, pos + 4 + 8 * ndim)[0]
    pos += 4 + 8 * ndim + 4 + 8
    assert kind == 0, (name, kind)
    shapes[name] = list(ne)
C, r = 128, 8
want = {}
for l in range(2):
    for t, (i, o) in {"attn_qkv": (C, 3 * C), "attn_output": (C, C), "ffn_up": (C, 4 * C),
                      "ffn_down": (4 * C, C)}.items():
        want[f"blk.{l}.{t}.weight.lora_a"] = [i, r]
        want[f"blk.{l}.{t}.weight.lora_b"] = [r, o]
assert shapes == want, shapes
PY

# Greedy continuations of base + adapter in llama.cpp against kd on the merged model.
llama_cpp_prompts
export KD_LORA=$work/lora.gguf
llama_cpp_greedy_check lora "$work/base.gguf" "$merged"

# Teacher forcing: llama.cpp with the adapter against kd on the merged model.
llama_cpp_sequences
"$forcing" "$merged" "$work/sequences" >"$work/argmax_kd" || fail "teacher_forcing on the merged model"
llama argmax "$work/base.gguf" "$work/sequences" >"$work/argmax_lora" ||
    fail "llama.cpp argmax with the adapter"
unset KD_LORA
llama argmax "$work/base.gguf" "$work/sequences" >"$work/argmax_base" ||
    fail "llama.cpp argmax on the base"
share=$(agreement "$work/argmax_kd" "$work/argmax_lora")
changed=$(agreement "$work/argmax_base" "$work/argmax_lora")
echo "base + adapter: kd and llama.cpp agree on $share of 2000 argmaxes;" \
     "the adapter changes $(python3 -c "print(round(2000 * (1 - $changed)))") of them"
python3 -c "import sys; sys.exit(not $share >= 0.99)" ||
    fail "kd's merged model and llama.cpp's base + adapter agree on only $share"
python3 -c "import sys; sys.exit(not $changed <= 0.995)" ||
    fail "the adapter changes fewer than 10 argmaxes in llama.cpp: it was not applied"

# Refused with one line: an adapter that trains biases, one whose base does not fit.
expect 0 teacher train --config "$work/tune_lr.json" --init "$base" --out "$work/biased" \
    --data "$assets/dolly/dolly-mixed.jsonl" --max-steps 2 --lora-rank 4 --lora-bias all
expect_refusal 'bias "all": a llama.cpp LoRA GGUF holds no biases' \
    export --adapter "$work/biased/adapter" --out "$work/biased.gguf"
cli_dolly_config other '{"n_layer": 1, "n_head": 2, "n_embd": 128, "n_positions": 128, "vocab_size": 50257}' 1 1 ""
expect 0 teacher train --config "$work/other.json" --out "$work/other"
expect_refusal "unexpected tensor base_model.model.transformer.h.1" \
    export --adapter "$work/tuned/adapter" --model "$work/other/model" --out "$work/bad.gguf"
expect_refusal "exists; --force replaces it" \
    export --adapter "$work/tuned/adapter" --out "$work/lora.gguf"
[ ! -e "$work/bad.gguf" ] || fail "a refused export left a file"
expect 2 export --adapter "$work/tuned/adapter" --out "$work/x.gguf" --type q8_0

cli_finish
