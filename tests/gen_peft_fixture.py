#!/usr/bin/python3
"""Writes tests/fixtures/peft/: an adapter in the layout Hugging Face PEFT
saves for GPT-2 (from PEFT's documented names, shapes and config keys; the
peft package is not needed), its base model directory, and the merged
weights computed here, which tests/test_peft_adapter.c checks kd's merge
against. Nothing here comes from kd's own writer.

    /usr/bin/python3 tests/gen_peft_fixture.py   # needs torch

  base/config.json, base/model.safetensors   a random GPT-2 (the CONFIG of
      gen_torch_fixture.py), tensors named "transformer.h.0.attn.c_attn.weight"
      as save_pretrained writes them
  adapter/adapter_config.json   what LoraConfig(r=4, lora_alpha=16,
      target_modules=["c_attn", "c_proj"], lora_dropout=0.05,
      fan_in_fan_out=True).save_pretrained writes (PEFT 0.10 keys)
  adapter/adapter_model.safetensors   "base_model.model.transformer.h.<l>.
      <module>.lora_A.weight" (r, in) and ".lora_B.weight" (out, r) for every
      module whose name ends in c_attn or c_proj (attn.c_proj and mlp.c_proj)
  merged.safetensors   "merged.<name>": W + (alpha / r) (B A)^T for those modules (PEFT's
      merge for fan_in_fan_out), every other tensor as in the base
"""
import json
import os
import sys

import numpy as np
import torch

import gen_torch_fixture as base

RANK, ALPHA = 4, 16.0
SEED = 20261205
MODULES = ("attn.c_attn", "attn.c_proj", "mlp.c_proj")   # what "c_attn", "c_proj" match

PEFT_CONFIG = {
    "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "gpt2",
    "bias": "none", "fan_in_fan_out": True, "inference_mode": True, "init_lora_weights": True,
    "layer_replication": None, "layers_pattern": None, "layers_to_transform": None,
    "loftq_config": {}, "lora_alpha": ALPHA, "lora_dropout": 0.05, "megatron_config": None,
    "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "r": RANK,
    "rank_pattern": {}, "revision": None, "target_modules": ["c_attn", "c_proj"],
    "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
}


def main():
    cfg = base.CONFIG
    generator = torch.Generator().manual_seed(SEED)
    params = {n: t.detach().float() for n, t in base.initial_parameters(cfg, generator).items()}
    adapter, merged = {}, {n: t.double() for n, t in params.items()}
    for layer in range(cfg["n_layer"]):
        for module in MODULES:
            name = "h.%d.%s" % (layer, module)
            fan_in, fan_out = params[name + ".weight"].shape   # Conv1D: [in, out]
            a = torch.randn(RANK, fan_in, generator=generator) * 0.1
            b = torch.randn(fan_out, RANK, generator=generator) * 0.1
            adapter["base_model.model.transformer.%s.lora_A.weight" % name] = a
            adapter["base_model.model.transformer.%s.lora_B.weight" % name] = b
            merged[name + ".weight"] += (ALPHA / RANK) * (b.double() @ a.double()).T
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "peft")
    for sub in ("base", "adapter"):
        os.makedirs(os.path.join(here, sub), exist_ok=True)
    hf_config = dict(cfg, model_type="gpt2", activation_function="gelu_new",
                     architectures=["GPT2LMHeadModel"], n_ctx=cfg["n_positions"])
    with open(os.path.join(here, "base", "config.json"), "w") as f:
        json.dump(hf_config, f, indent=2)
    base.write_safetensors(os.path.join(here, "base", "model.safetensors"),
                           [("transformer." + n, t.numpy()) for n, t in params.items()],
                           {"format": "pt"})
    with open(os.path.join(here, "adapter", "adapter_config.json"), "w") as f:
        json.dump(PEFT_CONFIG, f, indent=2, sort_keys=True)
    base.write_safetensors(os.path.join(here, "adapter", "adapter_model.safetensors"),
                           [(n, t.numpy()) for n, t in adapter.items()], {"format": "pt"})
    base.write_safetensors(os.path.join(here, "merged.safetensors"),
                           [("merged." + n, t.numpy().astype(np.float32)) for n, t in merged.items()],
                           {"format": "pt", "generator": "tests/gen_peft_fixture.py"})
    print("wrote %s" % here)
    return 0


if __name__ == "__main__":
    sys.exit(main())
