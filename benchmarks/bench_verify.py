"""Benchmark: proving a derivation (``symconv verify``).

Prints, from one run, for x (1,3,32,32) / w (8,3,3,3), padding 1:

1. ``symconv verify`` end to end (fresh process) against the 10 s target;
2. where the time goes in-process: deriving, evaluating the derived
   expressions in float64 and exactly (Fractions), and the whole check;
3. baselines: the plain path (SymPy expressions walked one by one, the way
   the derivation would be evaluated without the array tables) on a 16x16
   layer, and PyTorch's own forward + backward on the 32x32 layer (what the
   verifier is an alternative to), each with the ratio.

Usage:  python benchmarks/bench_verify.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np

from symconv.engine.derive import derive
from symconv.engine.evaluate import evaluate_table
from symconv.spec.conv import conv_spec
from symconv.verify.layer import verify

ARGS = ["verify", "conv2d", "--input", "1,3,32,32", "--weight", "8,3,3,3", "--padding", "1"]


def timed(function, repeat=1):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def values_for(spec, exact=False):
    rng = np.random.default_rng(0)
    shapes = {"x": spec.input, "w": spec.weight, "b": spec.bias_shape, "dy": spec.output_shape}
    values = {k: rng.standard_normal(s) for k, s in shapes.items()}
    if exact:
        to_fraction = np.vectorize(lambda v: Fraction(round(v * 8), 7), otypes=[object])
        values = {k: to_fraction(v) for k, v in values.items()}
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}")

    cli, _ = timed(lambda: subprocess.run([sys.executable, "-m", "symconv", *ARGS], check=True,
                                          stdout=subprocess.DEVNULL), options.repeat)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"`symconv {' '.join(ARGS)}` end to end: {cli:.2f} s (target <= 10 s), peak RSS {peak:.0f} MB")

    spec = conv_spec("conv2d", (1, 3, 32, 32), (8, 3, 3, 3), padding=1)
    t_derive, derivation = timed(lambda: derive(spec), options.repeat)
    floats, exact = values_for(spec), values_for(spec, exact=True)
    dx = derivation.gradients["dx"]
    t_float, _ = timed(lambda: dx.evaluate(floats), options.repeat)
    t_exact, _ = timed(lambda: dx.evaluate(exact, dtype=object))
    t_verify, report = timed(lambda: verify(derivation))
    print(f"in-process, 32x32: derive {t_derive:.3f} s; evaluate dx ({dx.terms:,} terms) float64 "
          f"{t_float:.3f} s, exact {t_exact:.2f} s; verify() {t_verify:.2f} s "
          f"({'passed' if report.passed else 'FAILED'})")

    small = conv_spec("conv2d", (1, 3, 16, 16), (8, 3, 3, 3), padding=1)
    fast = derive(small)
    plain = derive(small, method="structural")
    values = values_for(small)
    t_fast, _ = timed(lambda: [t.evaluate(values) for t in fast.gradients.values()], options.repeat)
    t_plain, _ = timed(lambda: [evaluate_table(t, small.input, values) if n == "dx" else
                                evaluate_table(t, small.weight if n == "dw" else small.bias_shape, values)
                                for n, t in plain.gradients.items()])
    print(f"baseline, 16x16: walking SymPy expressions {t_plain:.2f} s vs array tables {t_fast:.4f} s: "
          f"ratio {t_fast / t_plain:.4f}")

    try:
        import torch
    except ImportError:
        print("baseline PyTorch: not installed")
        return
    x = torch.tensor(floats["x"], requires_grad=True)
    w = torch.tensor(floats["w"], requires_grad=True)
    b = torch.tensor(floats["b"], requires_grad=True)
    dy = torch.tensor(floats["dy"])

    def torch_step():
        y = torch.nn.functional.conv2d(x, w, b, padding=1)
        (y * dy).sum().backward()

    t_torch, _ = timed(torch_step, 20)
    print(f"baseline PyTorch forward+backward, 32x32, float64: {t_torch * 1e3:.2f} ms; "
          f"our float64 evaluation of dx / torch's whole step: {t_float / t_torch:.1f}x")


if __name__ == "__main__":
    main()
