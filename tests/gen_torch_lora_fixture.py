#!/usr/bin/python3
"""Writes tests/fixtures/torch/lora_reference.safetensors, PyTorch's answers
for LoRA adapters on the small random GPT-2 of gen_torch_fixture.py, which
tests/test_lora_torch.c checks kd against.

    /usr/bin/python3 tests/gen_torch_lora_fixture.py   # needs torch

LoRA as Hugging Face PEFT computes it for GPT-2's Conv1D layers
(fan_in_fan_out): y = x W + b + scale * x A^T B^T, A (r, in), B (out, r),
scale = alpha / r. Here it is written in its merged form W + scale (B A)^T,
which has the same value and the same gradients with respect to A, B, the
biases and the input; kd computes the unmerged form, so the two are
independent derivations. B is drawn at random (PEFT starts it at zero, which
would make every gradient of A zero) so that every path carries signal.

Stored (F32; <name> an HF tensor name without "transformer."):
  param.<name>          the base model (frozen)
  lora.<adapter>        h.<l>.<target>.lora_A.weight (r, in) / lora_B.weight (out, r)
  input.tokens/targets/weights  the batch of gen_torch_fixture.py
  output.logits, output.loss    the adapted model
  grad.<adapter>        d(loss)/d(adapter)
  grad.<bias name>      d(loss)/d(every bias), for PEFT's bias "all"
  step.loss, step.grad_norm, after3.<adapter>   three clipped AdamW steps
                        on the adapters alone (decayed), base frozen
  layer.*               one adapted Conv1D layer: x (N, in), W, b, A, B,
                        dout; out, dx, dA, dB (no gradient for W)
"""
import os
import sys

import numpy as np
import torch

import gen_torch_fixture as base

RANK, ALPHA = 4, 8.0
TARGETS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
SHAPES = {"attn.c_attn": (1, 3), "attn.c_proj": (1, 1), "mlp.c_fc": (1, 4), "mlp.c_proj": (4, 1)}
SEED = 20261204
ADAPTER_STD = 0.2
LAYER_ROWS = 6


def adapters(cfg, generator):
    C, out = cfg["n_embd"], {}
    for layer in range(cfg["n_layer"]):
        for target in TARGETS:
            fan_in, fan_out = (m * C for m in SHAPES[target])
            prefix = "h.%d.%s." % (layer, target)
            bound = 1.0 / fan_in ** 0.5   # kaiming_uniform_(a=sqrt 5)
            a = (torch.rand(RANK, fan_in, generator=generator) * 2 - 1) * bound
            b = torch.randn(fan_out, RANK, generator=generator) * ADAPTER_STD
            out[prefix + "lora_A.weight"] = a.double().requires_grad_(True)
            out[prefix + "lora_B.weight"] = b.double().requires_grad_(True)
    return out


def merged(params, lora):
    scale = ALPHA / RANK
    out = dict(params)
    for name in params:
        for target in TARGETS:
            if name.endswith(target + ".weight"):
                prefix = name[:-len("weight")]
                a, b = lora[prefix + "lora_A.weight"], lora[prefix + "lora_B.weight"]
                out[name] = params[name] + scale * (b @ a).T
    return out


def loss_of(params, lora, batch, cfg):
    tokens, targets, weights = batch
    return base.weighted_ce_sum(merged(params, lora), tokens, targets, weights, cfg) / weights.sum()


def train(params, lora, batch, cfg):
    opt = base.OPTIMIZER
    optimizer = torch.optim.AdamW(list(lora.values()), lr=opt["lr"],
                                  betas=(opt["beta1"], opt["beta2"]), eps=opt["eps"],
                                  weight_decay=opt["weight_decay"])
    losses, norms = [], []
    for _ in range(opt["steps"]):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(params, lora, batch, cfg)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(lora.values()), opt["grad_clip"])))
        optimizer.step()
        losses.append(float(loss))
    return losses, norms


def layer_case(generator):
    """The attn.c_attn shape of the model: in C, out 3C."""
    C = base.CONFIG["n_embd"]
    draw = lambda *shape: torch.randn(*shape, generator=generator).double()  # noqa: E731
    x, w, b = draw(LAYER_ROWS, C), draw(C, 3 * C) * 0.2, draw(3 * C) * 0.2
    a, bb, dout = draw(RANK, C) * 0.2, draw(3 * C, RANK) * 0.2, draw(LAYER_ROWS, 3 * C)
    x.requires_grad_(True)
    a.requires_grad_(True)
    bb.requires_grad_(True)
    out = x @ w + b + (ALPHA / RANK) * (x @ a.T) @ bb.T
    dx, da, db = torch.autograd.grad(out, (x, a, bb), dout)
    named = dict(x=x, W=w, b=b, A=a, B=bb, dout=dout, out=out, dx=dx, dA=da, dB=db)
    return [("layer." + k, base.as_f32(v)) for k, v in named.items()]


def main():
    torch.set_num_threads(1)
    cfg = base.CONFIG
    generator = torch.Generator().manual_seed(SEED)
    params = base.initial_parameters(cfg, generator)
    for t in params.values():
        t.requires_grad_(False)
    biases = {n: t.requires_grad_(True) for n, t in params.items() if n.endswith(".bias")}
    lora = adapters(cfg, generator)
    batch = base.make_batch(cfg, generator)
    start = {n: t.detach().clone() for n, t in lora.items()}

    logits = base.gpt2_logits(merged(params, lora), batch[0], cfg)
    loss = loss_of(params, lora, batch, cfg)
    grads = torch.autograd.grad(loss, list(lora.values()) + list(biases.values()))
    for t in biases.values():
        t.requires_grad_(False)
    losses, norms = train(params, lora, batch, cfg)
    assert abs(losses[0] - float(loss)) < 1e-12
    assert min(norms) > base.OPTIMIZER["grad_clip"], "clipping must be active in every step"

    tensors = [("param." + n, base.as_f32(t)) for n, t in params.items()]
    tensors += [("lora." + n, base.as_f32(t)) for n, t in start.items()]
    tensors += [("input.tokens", batch[0].numpy().astype(np.int32)),
                ("input.targets", batch[1].numpy().astype(np.int32)),
                ("input.weights", base.as_f32(batch[2])),
                ("output.logits", base.as_f32(logits)),
                ("output.loss", np.array([float(loss)], dtype=np.float32)),
                ("step.loss", np.array(losses, dtype=np.float32)),
                ("step.grad_norm", np.array(norms, dtype=np.float32))]
    names = list(lora) + list(biases)
    tensors += [("grad." + n, base.as_f32(g)) for n, g in zip(names, grads)]
    tensors += [("after3." + n, base.as_f32(t)) for n, t in lora.items()]
    tensors += layer_case(generator)
    metadata = {k: repr(v) for k, v in cfg.items()}
    metadata.update({k: repr(v) for k, v in base.OPTIMIZER.items()})
    metadata.update(rank=str(RANK), alpha=repr(ALPHA), targets=",".join(TARGETS), seed=str(SEED),
                    torch=torch.__version__, generator="tests/gen_torch_lora_fixture.py")
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "fixtures", "torch", "lora_reference.safetensors")
    base.write_safetensors(path, tensors, metadata)
    print("wrote %s (%d bytes): loss %.6f, step losses %s, grad norms %s" % (
        path, os.path.getsize(path), float(loss), ["%.6f" % x for x in losses],
        ["%.4f" % x for x in norms]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
