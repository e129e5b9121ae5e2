#!/usr/bin/python3
"""Checks that a model directory written by kd has the layout
transformers' GPT2LMHeadModel.from_pretrained expects, without needing
transformers: config.json keys, and model.safetensors parsed by hand
(header framing, metadata, names, shapes, dtypes, contiguous offsets,
finite values). The expected state dict is derived here from GPT-2's module
structure, independently of kd's own tensor table.

usage: /usr/bin/python3 tests/check_hf_layout.py MODEL_DIR
"""
import json
import os
import struct
import sys

import torch


def expected_tensors(config):
    """GPT2LMHeadModel's parameter names and shapes (lm_head is tied to wte
    and may be omitted from the file)."""
    C, V, P = config["n_embd"], config["vocab_size"], config["n_positions"]
    shapes = {"transformer.wte.weight": [V, C], "transformer.wpe.weight": [P, C]}
    for layer in range(config["n_layer"]):
        block = f"transformer.h.{layer}."
        # Conv1D stores weights as [in_features, out_features].
        shapes.update({
            block + "ln_1.weight": [C], block + "ln_1.bias": [C],
            block + "attn.c_attn.weight": [C, 3 * C], block + "attn.c_attn.bias": [3 * C],
            block + "attn.c_proj.weight": [C, C], block + "attn.c_proj.bias": [C],
            block + "ln_2.weight": [C], block + "ln_2.bias": [C],
            block + "mlp.c_fc.weight": [C, 4 * C], block + "mlp.c_fc.bias": [4 * C],
            block + "mlp.c_proj.weight": [4 * C, C], block + "mlp.c_proj.bias": [C],
        })
    shapes["transformer.ln_f.weight"] = [C]
    shapes["transformer.ln_f.bias"] = [C]
    return shapes


def check_config(config, problems):
    required = {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
        "activation_function": "gelu_new", "tie_word_embeddings": True,
        "scale_attn_weights": True, "use_cache": True,
    }
    for key, value in required.items():
        if config.get(key) != value:
            problems.append(f"config.json: {key} is {config.get(key)!r}, expected {value!r}")
    for key in ("n_layer", "n_head", "n_embd", "n_positions", "n_ctx", "vocab_size",
                "bos_token_id", "eos_token_id"):
        if not isinstance(config.get(key), int) or config[key] < 0:
            problems.append(f"config.json: {key} missing or not a non-negative integer")
    if not problems and config["n_embd"] % config["n_head"]:
        problems.append("config.json: n_embd not divisible by n_head")


def check_safetensors(path, config, problems):
    with open(path, "rb") as f:
        blob = f.read()
    (length,) = struct.unpack("<Q", blob[:8])
    if length % 8:
        problems.append(f"header length {length} is not a multiple of 8")
    header = json.loads(blob[8:8 + length].decode("utf-8"))
    data = blob[8 + length:]
    if header.pop("__metadata__", None) != {"format": "pt"}:
        problems.append('__metadata__ is not {"format": "pt"}')
    expected = expected_tensors(config)
    names = set(header)
    for name in sorted(expected.keys() - names):
        problems.append(f"missing tensor {name}")
    for name in sorted(names - expected.keys() - {"lm_head.weight"}):
        problems.append(f"unexpected tensor {name}")
    end = 0
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, stop = info["data_offsets"]
        if begin != end:
            problems.append(f"{name}: starts at {begin}, previous tensor ended at {end}")
        end = stop
        if info["dtype"] != "F32":
            problems.append(f"{name}: dtype {info['dtype']}, expected F32")
            continue
        if name in expected and info["shape"] != expected[name]:
            problems.append(f"{name}: shape {info['shape']}, expected {expected[name]}")
        values = torch.frombuffer(bytearray(data[begin:stop]), dtype=torch.float32)
        if values.numel() != torch.Size(info["shape"]).numel():
            problems.append(f"{name}: {values.numel()} values for shape {info['shape']}")
        elif not torch.isfinite(values).all():
            problems.append(f"{name}: non-finite values")
    if end != len(data):
        problems.append(f"{len(data) - end} bytes after the last tensor")
    return len(header)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    model_dir = sys.argv[1]
    problems = []
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    check_config(config, problems)
    count = 0
    if not problems:
        count = check_safetensors(os.path.join(model_dir, "model.safetensors"), config, problems)
    for problem in problems:
        print(f"{model_dir}: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"{model_dir}: {count} tensors match GPT2LMHeadModel "
          f"(n_layer={config['n_layer']}, n_embd={config['n_embd']}, "
          f"vocab_size={config['vocab_size']})")


if __name__ == "__main__":
    main()
