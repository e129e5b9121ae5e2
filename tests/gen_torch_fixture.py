#!/usr/bin/python3
"""Writes tests/fixtures/torch/gpt2_reference.safetensors, PyTorch's answers
for a small random GPT-2 that tests/test_nn_torch.c checks kd's engine against.

    /usr/bin/python3 tests/gen_torch_fixture.py   # needs torch (1.13 tested)

The model is GPT2LMHeadModel's math written out in torch (transformers is not
needed): learned wte + wpe, pre-LayerNorm blocks, causal multi-head attention
scaled by 1/sqrt(head_dim), MLP 4C with tanh-approximate GELU, final
LayerNorm, lm_head tied to wte, Conv1D weights stored [in, out], no dropout.
Everything runs in float64 from float32 starting values, so the stored
answers are the exact math rounded once to float32, and kd's float32 errors
are measured against the truth rather than against torch's own rounding.

Stored (F32 unless noted; <name> is an HF tensor name without "transformer."):
  param.<name>     the starting parameters
  input.tokens     (B, T) I32, right-padded sequences of different lengths
  input.targets    (B, T) I32, next tokens (padding has a valid id, weight 0)
  input.weights    (B, T) loss weights: 0 on padding and prompt positions
  output.logits    (B, T, V) logits of the starting model
  output.loss      (1,) sum(w * CE) / sum(w)
  grad.<name>      d(output.loss)/d(param), before any clipping
  step.loss        (3,) the loss at each of the three AdamW steps
  step.grad_norm   (3,) the global gradient norm before clipping, per step
  after3.<name>    the parameters after 3 AdamW steps on the same batch
__metadata__ holds the model config, the optimizer settings and the
micro-batch split ("2,1" rows) that must reproduce the full-batch step.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

CONFIG = dict(n_layer=2, n_head=4, n_embd=32, n_positions=16, vocab_size=97,
              layer_norm_epsilon=1e-5)
OPTIMIZER = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, grad_clip=1.0,
                 steps=3)
SEED = 20240611
INIT_STD = 0.2          # large enough that every path carries signal
LENGTHS = [12, 9, 6]    # true lengths of the B = 3 rows; T = max
PROMPTS = [4, 2, 3]     # leading positions of each row that carry no loss
HALF_WEIGHT = (0, 10)   # one token weighted 0.5, so weights are not just 0/1
MICRO_ROWS = [2, 1]     # the accumulation case
PAD = CONFIG["vocab_size"] - 1
DECAYED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
LAYER_TENSORS = [  # HF order, shape as multiples of C
    ("ln_1.weight", (1,)), ("ln_1.bias", (1,)),
    ("attn.c_attn.weight", (1, 3)), ("attn.c_attn.bias", (3,)),
    ("attn.c_proj.weight", (1, 1)), ("attn.c_proj.bias", (1,)),
    ("ln_2.weight", (1,)), ("ln_2.bias", (1,)),
    ("mlp.c_fc.weight", (1, 4)), ("mlp.c_fc.bias", (4,)),
    ("mlp.c_proj.weight", (4, 1)), ("mlp.c_proj.bias", (1,)),
]


def parameter_shapes(cfg):
    C = cfg["n_embd"]
    shapes = [("wte.weight", (cfg["vocab_size"], C)), ("wpe.weight", (cfg["n_positions"], C))]
    for layer in range(cfg["n_layer"]):
        for suffix, multiples in LAYER_TENSORS:
            shapes.append(("h.%d.%s" % (layer, suffix), tuple(m * C for m in multiples)))
    return shapes + [("ln_f.weight", (C,)), ("ln_f.bias", (C,))]


def initial_parameters(cfg, generator):
    """float32 draws (so the stored values are exactly the ones used), then float64.
    LayerNorm weights are 1 + noise so that a transposed or skipped gain shows."""
    params = {}
    for name, shape in parameter_shapes(cfg):
        values = torch.randn(shape, generator=generator, dtype=torch.float32) * INIT_STD
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            values += 1.0
        params[name] = values.double().requires_grad_(True)
    return params


def gpt2_logits(p, tokens, cfg):
    B, T = tokens.shape
    C, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    D = C // H
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    x = p["wte.weight"][tokens] + p["wpe.weight"][:T]
    for layer in range(cfg["n_layer"]):
        w = lambda suffix: p["h.%d.%s" % (layer, suffix)]  # noqa: E731
        h = F.layer_norm(x, (C,), w("ln_1.weight"), w("ln_1.bias"), eps)
        q, k, v = (h @ w("attn.c_attn.weight") + w("attn.c_attn.bias")).split(C, dim=2)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        scores = scores.masked_fill(~causal, float("-inf"))
        y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ w("attn.c_proj.weight") + w("attn.c_proj.bias")
        h = F.layer_norm(x, (C,), w("ln_2.weight"), w("ln_2.bias"), eps)
        h = F.gelu(h @ w("mlp.c_fc.weight") + w("mlp.c_fc.bias"), approximate="tanh")
        x = x + h @ w("mlp.c_proj.weight") + w("mlp.c_proj.bias")
    x = F.layer_norm(x, (C,), p["ln_f.weight"], p["ln_f.bias"], eps)
    return x @ p["wte.weight"].T


def weighted_ce_sum(p, tokens, targets, weights, cfg):
    logits = gpt2_logits(p, tokens, cfg)
    ce = F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), targets.reshape(-1),
                         reduction="none")
    return (ce * weights.reshape(-1)).sum()


def make_batch(cfg, generator):
    T = max(LENGTHS)
    stream = torch.randint(0, PAD, (len(LENGTHS), T + 1), generator=generator)
    tokens = torch.full((len(LENGTHS), T), PAD, dtype=torch.int64)
    targets = torch.full((len(LENGTHS), T), PAD, dtype=torch.int64)
    weights = torch.zeros(len(LENGTHS), T, dtype=torch.float64)
    for row, (length, prompt) in enumerate(zip(LENGTHS, PROMPTS)):
        tokens[row, :length] = stream[row, :length]
        targets[row, :length] = stream[row, 1:length + 1]
        targets[row, length - 1] = PAD   # end of text
        weights[row, prompt:length] = 1.0
    weights[HALF_WEIGHT] = 0.5
    return tokens, targets, weights


def make_optimizer(params):
    decayed = [t for n, t in params.items() if n.endswith(DECAYED)]
    others = [t for n, t in params.items() if not n.endswith(DECAYED)]
    return torch.optim.AdamW(
        [{"params": decayed, "weight_decay": OPTIMIZER["weight_decay"]},
         {"params": others, "weight_decay": 0.0}],
        lr=OPTIMIZER["lr"], betas=(OPTIMIZER["beta1"], OPTIMIZER["beta2"]), eps=OPTIMIZER["eps"])


def train(params, batch, micro_rows, cfg):
    """OPTIMIZER["steps"] AdamW steps; each accumulates the micro-batches'
    sum(w * CE) / (total weight) and clips the global norm. Returns the
    per-step losses and pre-clip gradient norms."""
    tokens, targets, weights = batch
    total_weight = weights.sum()
    optimizer = make_optimizer(params)
    losses, norms = [], []
    for _ in range(OPTIMIZER["steps"]):
        optimizer.zero_grad(set_to_none=True)
        loss, begin = 0.0, 0
        for rows in micro_rows:
            part = slice(begin, begin + rows)
            micro = weighted_ce_sum(params, tokens[part], targets[part], weights[part], cfg)
            (micro / total_weight).backward()
            loss += float(micro / total_weight)
            begin += rows
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), OPTIMIZER["grad_clip"])
        optimizer.step()
        losses.append(loss)
        norms.append(float(norm))
    return losses, norms


def write_safetensors(path, tensors, metadata):
    """The format by hand: u64 LE header length, JSON header padded with
    spaces to 8 bytes, then the tensors' little-endian bytes in order."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors:
        dtype = {np.dtype("float32"): "F32", np.dtype("int32"): "I32"}[array.dtype]
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def as_f32(t):
    return t.detach().numpy().astype(np.float32)


def main():
    torch.set_num_threads(1)
    cfg = CONFIG
    generator = torch.Generator().manual_seed(SEED)
    params = initial_parameters(cfg, generator)
    tokens, targets, weights = make_batch(cfg, generator)
    start = {n: t.detach().clone() for n, t in params.items()}

    logits = gpt2_logits(params, tokens, cfg)
    loss = weighted_ce_sum(params, tokens, targets, weights, cfg) / weights.sum()
    grads = torch.autograd.grad(loss, list(params.values()))

    full_params = {n: t.clone().requires_grad_(True) for n, t in start.items()}
    losses, norms = train(full_params, (tokens, targets, weights), [len(LENGTHS)], cfg)
    micro_params = {n: t.clone().requires_grad_(True) for n, t in start.items()}
    micro_losses, _ = train(micro_params, (tokens, targets, weights), MICRO_ROWS, cfg)
    # The reference itself must not depend on the split (float64 measures ~4e-12).
    split_gap = max(float((full_params[n] - micro_params[n]).abs().max()) for n in start)
    assert split_gap < 1e-10 and max(abs(a - b) for a, b in zip(losses, micro_losses)) < 1e-12
    assert abs(losses[0] - float(loss)) < 1e-12
    assert min(norms) > OPTIMIZER["grad_clip"], "clipping must be active in every step"

    tensors = [("param." + n, as_f32(t)) for n, t in start.items()]
    tensors += [("input.tokens", tokens.numpy().astype(np.int32)),
                ("input.targets", targets.numpy().astype(np.int32)),
                ("input.weights", as_f32(weights)),
                ("output.logits", as_f32(logits)),
                ("output.loss", np.array([float(loss)], dtype=np.float32)),
                ("step.loss", np.array(losses, dtype=np.float32)),
                ("step.grad_norm", np.array(norms, dtype=np.float32))]
    tensors += [("grad." + n, as_f32(g)) for n, g in zip(start, grads)]
    tensors += [("after3." + n, as_f32(t)) for n, t in full_params.items()]
    metadata = {k: repr(v) for k, v in cfg.items()}
    metadata.update({k: repr(v) for k, v in OPTIMIZER.items()})
    metadata.update(micro_rows=",".join(map(str, MICRO_ROWS)), seed=str(SEED),
                    torch=torch.__version__, generator="tests/gen_torch_fixture.py")
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "fixtures", "torch", "gpt2_reference.safetensors")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_safetensors(path, tensors, metadata)
    print("wrote %s (%d bytes): loss %.6f, step losses %s, grad norms %s" % (
        path, os.path.getsize(path), float(loss), ["%.6f" % x for x in losses],
        ["%.4f" % x for x in norms]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
