#!/usr/bin/python3
"""Writes tests/fixtures/torch/distill_reference.safetensors, PyTorch's answers
for the distillation losses that tests/test_distill_torch.c checks kd against.

    /usr/bin/python3 tests/gen_torch_distill_fixture.py   # needs torch (1.13 tested)

A random student and a larger random teacher (GPT-2 math from
gen_torch_fixture.py, same vocabulary) run on the right-padded batch of that
fixture; at T = 2 and alpha = 0.5, for each divergence, the loss

    sum_tokens w * (alpha * CE + (1 - alpha) * T^2 * D(p_T || q_T)) / sum(w)

and its gradient with respect to every student parameter, all in float64:
    forward KL  sum p (log p - log q)
    reverse KL  sum q (log q - log p)
    jsd         beta KL(p || m) + (1 - beta) KL(q || m), m = beta p + (1 - beta) q

Stored (F32 unless noted; <name> is an HF tensor name without "transformer."):
  student.<name>, teacher.<name>   the parameters
  input.tokens, input.targets      (B, T) I32
  input.weights                    (B, T)
  <kind>.loss                      (1,) the loss above
  <kind>.cross_entropy             (1,) sum(w * CE) / sum(w)
  <kind>.divergence                (1,) sum(w * D) / sum(w)
  <kind>.grad.<name>               d(<kind>.loss)/d(student parameter)
with <kind> in forward_kl, reverse_kl, jsd; __metadata__ holds both configs
(student_*, teacher_*), alpha, temperature and jsd_beta.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_torch_fixture as base  # noqa: E402

STUDENT = base.CONFIG
TEACHER = dict(STUDENT, n_layer=3, n_embd=48)
ALPHA, TEMPERATURE, JSD_BETA = 0.5, 2.0, 0.5
SEED = 20240612


def divergence(kind, teacher_logits, student_logits):
    lp = F.log_softmax(teacher_logits / TEMPERATURE, dim=-1)
    lq = F.log_softmax(student_logits / TEMPERATURE, dim=-1)
    p, q = lp.exp(), lq.exp()
    if kind == "forward_kl":
        return (p * (lp - lq)).sum(-1)
    if kind == "reverse_kl":
        return (q * (lq - lp)).sum(-1)
    lm = torch.logsumexp(torch.stack([lp + math.log(JSD_BETA), lq + math.log(1 - JSD_BETA)]), 0)
    return JSD_BETA * (p * (lp - lm)).sum(-1) + (1 - JSD_BETA) * (q * (lq - lm)).sum(-1)


def main():
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(SEED)
    student = base.initial_parameters(STUDENT, generator)
    teacher = base.initial_parameters(TEACHER, generator)
    tokens, targets, weights = base.make_batch(STUDENT, generator)
    V = STUDENT["vocab_size"]
    with torch.no_grad():
        teacher_logits = base.gpt2_logits(teacher, tokens, TEACHER).reshape(-1, V)
    w = weights.reshape(-1)

    tensors = [("student." + n, base.as_f32(t)) for n, t in student.items()]
    tensors += [("teacher." + n, base.as_f32(t)) for n, t in teacher.items()]
    tensors += [("input.tokens", tokens.numpy().astype(np.int32)),
                ("input.targets", targets.numpy().astype(np.int32)),
                ("input.weights", base.as_f32(weights))]
    summary = []
    for kind in ("forward_kl", "reverse_kl", "jsd"):
        logits = base.gpt2_logits(student, tokens, STUDENT).reshape(-1, V)
        ce = F.cross_entropy(logits, targets.reshape(-1), reduction="none")
        d = divergence(kind, teacher_logits, logits)
        loss = (w * (ALPHA * ce + (1 - ALPHA) * TEMPERATURE ** 2 * d)).sum() / w.sum()
        grads = torch.autograd.grad(loss, list(student.values()))
        tensors += [(kind + ".loss", np.array([float(loss)], dtype=np.float32)),
                    (kind + ".cross_entropy",
                     np.array([float((w * ce).sum() / w.sum())], dtype=np.float32)),
                    (kind + ".divergence",
                     np.array([float((w * d).sum() / w.sum())], dtype=np.float32))]
        tensors += [("%s.grad.%s" % (kind, n), base.as_f32(g)) for n, g in zip(student, grads)]
        summary.append("%s %.6f" % (kind, float(loss)))

    metadata = {"student_" + k: repr(v) for k, v in STUDENT.items()}
    metadata.update({"teacher_" + k: repr(v) for k, v in TEACHER.items()})
    metadata.update(alpha=repr(ALPHA), temperature=repr(TEMPERATURE), jsd_beta=repr(JSD_BETA),
                    seed=str(SEED), torch=torch.__version__,
                    generator="tests/gen_torch_distill_fixture.py")
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "fixtures", "torch", "distill_reference.safetensors")
    base.write_safetensors(path, tensors, metadata)
    print("wrote %s (%d bytes): losses %s" % (path, os.path.getsize(path), ", ".join(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
