#!/usr/bin/python3
"""Writes tests/fixtures/torch/nf4_reference.safetensors, the NF4 codebook
and a block quantization computed independently of kd, which
tests/test_quant_nf4.c checks kd's NF4 against.

    /usr/bin/python3 tests/gen_nf4_fixture.py   # needs torch

The codebook is built as the QLoRA paper (arXiv 2305.14314, eq. 4 and
appendix E) and bitsandbytes' create_normal_map(offset=0.9677083,
use_extra_value=True) build it: 8 positive quantiles of N(0, 1) at
linspace(offset, 0.5, 9)[:-1], 7 negative ones at linspace(offset, 0.5,
8)[:-1], and 0, normalised by the largest. The quantiles are taken with
torch.distributions.Normal.icdf in float64 (bitsandbytes uses
scipy.stats.norm.ppf; the linspace is float32 in both).

Stored (F32 unless said):
  nf4.codebook        the 16 levels, ascending
  block.x             4 blocks of 64 values (N(0, 1), one block all zero)
  block.absmax        each block's largest magnitude
  block.codes (I32)   the index of the nearest level to x / absmax, ties to
                      the lower level (bitsandbytes' thresholds are the
                      midpoints, compared with >)
"""
import os

import numpy as np
import torch

from gen_torch_fixture import write_safetensors

OFFSET = 0.9677083


def codebook():
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64),
                                        torch.tensor(1.0, dtype=torch.float64))
    positive = normal.icdf(torch.linspace(OFFSET, 0.5, 9)[:-1].double())
    negative = -normal.icdf(torch.linspace(OFFSET, 0.5, 8)[:-1].double())
    values = torch.cat([positive, torch.zeros(1, dtype=torch.float64), negative])
    values = values.sort().values
    return (values / values.max()).numpy()


def nearest_codes(x, levels):
    midpoints = (levels[:-1] + levels[1:]) / 2
    return np.array([int(np.sum(v > midpoints)) for v in x], dtype=np.int32)


def main():
    levels = codebook()
    generator = np.random.default_rng(20261204)
    x = generator.standard_normal((4, 64)).astype(np.float32)
    x[2] = 0.0
    absmax = np.abs(x).max(axis=1)
    codes = np.concatenate([
        nearest_codes(row.astype(np.float64) / (a if a > 0 else 1.0), levels.astype(np.float64))
        for row, a in zip(x, absmax)])
    tensors = [("nf4.codebook", levels.astype(np.float32)),
               ("block.x", x.reshape(-1)),
               ("block.absmax", absmax.astype(np.float32)),
               ("block.codes", codes)]
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "fixtures", "torch", "nf4_reference.safetensors")
    write_safetensors(path, tensors, {"offset": repr(OFFSET)})
    print(path)
    print(" ".join("%.9g" % v for v in levels))


if __name__ == "__main__":
    main()
