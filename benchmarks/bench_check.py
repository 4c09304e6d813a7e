"""How long ``symconv check`` takes, end to end, against PyTorch's gradcheck on the same layers.

Prints our time, the baseline's and the ratio, from one run (medians of 3,
each a fresh interpreter, so imports count):

* one check of a conv2d with x (2,3,7,7), w (4,3,3,3), stride 2, padding 1:
  a right backward and a wrong one (kernel-not-flipped, which also rebuilds
  and diagnoses), both hand-written loops from examples/backward/; the
  baseline is ``torch.autograd.gradcheck`` of ``F.conv2d`` at that layer, which
  says only pass or fail. The issue's budget is 2 s.
* the edge suite of ``torch.nn.functional:conv2d`` (``--suite edge``, 37
  configurations); the baseline is gradcheck over the same configurations.
  The budget is 30 s.

    .venv/bin/python benchmarks/bench_check.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "examples" / "backward"
LAYER = ["--input", "2,3,7,7", "--weight", "4,3,3,3", "--stride", "2", "--padding", "1"]

GRADCHECK_ONE = """
import torch
from torch.autograd import gradcheck
x = torch.randn(2, 3, 7, 7, dtype=torch.float64, requires_grad=True)
w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
b = torch.randn(4, dtype=torch.float64, requires_grad=True)
assert gradcheck(lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=2, padding=1), (x, w, b))
"""

GRADCHECK_SUITE = """
import torch
from torch.autograd import gradcheck
from symconv.check.suite import edge_specs
from symconv.layers import rule_for
for name, spec in edge_specs("conv2d"):
    keywords = rule_for(spec).check.torch_keywords(spec)
    x = torch.randn(*spec.input, dtype=torch.float64, requires_grad=True)
    w = torch.randn(*spec.weight, dtype=torch.float64, requires_grad=True)
    args = (x, w) + ((torch.randn(spec.weight[0], dtype=torch.float64, requires_grad=True),) if spec.bias else ())
    assert gradcheck(lambda *a: torch.nn.functional.conv2d(*a, **keywords), args)
"""


def _fresh(args, rounds=3):
    times, status = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        status = subprocess.run(args, capture_output=True, text=True, cwd=ROOT).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), status


def _row(label, ours, baseline, budget):
    print(f"{label:<58} ours {ours:6.2f} s  gradcheck {baseline:6.2f} s  ratio {ours / baseline:5.2f}  "
          f"(budget {budget:.0f} s: {'within' if ours <= budget else 'OVER'})")


def main():
    symconv = [sys.executable, "-m", "symconv", "check"]
    right, status_right = _fresh(symconv + [f"{GALLERY}/conv2d_plain_correct.py:conv2d_backward", "conv2d", *LAYER])
    wrong, status_wrong = _fresh(symconv + [f"{GALLERY}/conv2d_kernel_not_flipped.py:conv2d_backward", "conv2d",
                                            *LAYER])
    baseline, _ = _fresh([sys.executable, "-c", GRADCHECK_ONE])
    if (status_right, status_wrong) != (0, 1):
        print(f"unexpected exit statuses {status_right}, {status_wrong} (expected 0 and 1): the timings mean nothing")
    _row("check conv2d 2x3x7x7 * 4x3x3x3, right loops", right, baseline, 2)
    _row("check conv2d 2x3x7x7 * 4x3x3x3, kernel-not-flipped", wrong, baseline, 2)
    suite, status = _fresh(symconv + ["torch.nn.functional:conv2d", "conv2d", "--convention", "torch",
                                      "--suite", "edge"])
    if status != 0:
        print(f"unexpected exit status {status} of the suite (expected 0): its timing means nothing")
    baseline, _ = _fresh([sys.executable, "-c", GRADCHECK_SUITE])
    _row("check --suite edge, torch.nn.functional:conv2d (37 layers)", suite, baseline, 30)


if __name__ == "__main__":
    main()
