"""Benchmark: proving a derivation (``symconv verify``) against the derivation it checks.

Prints, from one run:

1. end to end (fresh processes, so start-up counts), ``symconv verify`` of
   the CIFAR-sized conv layer (x 1,3,32,32, w 8,3,3,3, padding 1) and of the
   max and average pools (x 1,3,32,32, 3x3, stride 2, padding 1), each
   against ``symconv derive ... --format json`` of the same layer: the
   commands alternate within each round, and the ratio is of the medians
   (issue 17's goal: at most 1.5);
2. where verify's time goes in-process, per step (derivation, the float64
   evaluation, the reference chain, the finite differences, the exact
   trials);
3. the exact evaluation of the conv layer's gradients against its baseline,
   the same sums in ``fractions.Fraction`` term by term (what verify did
   before its integer arithmetic), at the same values;
4. baselines as before: the plain path (SymPy expressions walked one by one)
   on a 16x16 layer, and PyTorch's own forward + backward on the 32x32 layer.

Usage:  python benchmarks/bench_verify.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np

from symconv.engine.derive import derive
from symconv.engine.evaluate import evaluate_table
from symconv.spec.conv import conv_spec
from symconv.spec.pool import pool_spec
from symconv.symbolic.terms import NO_FACTOR
from symconv.verify import loop
from symconv.verify.checks import exact_integers
from symconv.verify.layer import verify

CONV = ["conv2d", "--input", "1,3,32,32", "--weight", "8,3,3,3", "--padding", "1"]
POOL = ["--input", "1,3,32,32", "--kernel", "3", "--stride", "2", "--padding", "1"]
LAYERS = {"conv2d": CONV, "maxpool2d": ["maxpool2d", *POOL], "avgpool2d": ["avgpool2d", *POOL]}


def timed(function, repeat=1):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def cli(args) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "symconv", *args], stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def end_to_end(repeat):
    print(f"1. End to end, fresh processes, medians of {repeat} rounds (verify and derive alternate):")
    print(f"   {'layer':<10} {'verify s':>9} {'derive --format json s':>23} {'ratio':>6}")
    for name, args in LAYERS.items():
        verify_times, derive_times = [], []
        for _ in range(repeat):
            verify_times.append(cli(["verify", *args]))
            derive_times.append(cli(["derive", *args, "--format", "json"]))
        v, d = float(np.median(verify_times)), float(np.median(derive_times))
        print(f"   {name:<10} {v:9.2f} {d:23.2f} {v / d:6.2f}")


def steps(spec):
    """Seconds of each step of verify() on ``spec``, by wrapping the loop's helpers."""
    spent = {}

    def wrap(name, label):
        original = getattr(loop, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = original(*args, **kwargs)
            key = label(args)
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
            return result

        setattr(loop, name, wrapper)
        return original

    exact_values = lambda args: args[1]["x"].dtype == object  # noqa: E731
    originals = {
        "derived_chain": wrap("derived_chain", lambda a: "derived, exact" if a[2] is object else "derived, float64"),
        "reference_chain": wrap("reference_chain", lambda a: "reference, exact" if exact_values(a) else
                                "reference, float64"),
        "finite_differences": wrap("finite_differences", lambda a: "finite differences"),
    }
    try:
        t_derive, derivation = timed(lambda: derive(spec))
        t_verify, report = timed(lambda: verify(derivation))
    finally:
        for name, original in originals.items():
            setattr(loop, name, original)
    parts = ", ".join(f"{key} {seconds:.3f}" for key, seconds in sorted(spent.items()))
    return t_derive, t_verify, report.passed, parts


def fraction_baseline(table, values):
    """The exact sums the old way: Fractions multiplied and added term by term."""
    flat = table.space.flat_values(values, object)
    factors = np.where(table.factors == NO_FACTOR, len(flat) - 1, table.factors)
    products = flat[factors[:, 0]]
    for column in range(1, factors.shape[1]):
        products = products * flat[factors[:, column]]
    out = np.zeros(len(table), dtype=object)
    np.add.at(out, table.entry, products)
    return out.reshape(table.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    end_to_end(options.repeat)

    print("2. In process, seconds per step of verify():")
    specs = {"conv2d": conv_spec("conv2d", (1, 3, 32, 32), (8, 3, 3, 3), padding=1),
             "maxpool2d": pool_spec("maxpool2d", (1, 3, 32, 32), kernel=3, stride=2, padding=1),
             "avgpool2d": pool_spec("avgpool2d", (1, 3, 32, 32), kernel=3, stride=2, padding=1)}
    for name, spec in specs.items():
        t_derive, t_verify, passed, parts = steps(spec)
        print(f"   {name}: derive {t_derive:.3f}; verify {t_verify:.3f} ({'passed' if passed else 'FAILED'}): {parts}")

    spec = specs["conv2d"]
    derivation = derive(spec)
    rng = np.random.default_rng(0)
    shapes = {"x": spec.input, "w": spec.weight, "b": spec.bias_shape, "dy": spec.output_shape}
    integers = {k: exact_integers(rng.integers(-9, 10, size=s), rng.integers(1, 10, size=s)) for k, s in shapes.items()}
    rationals = {k: np.vectorize(lambda v: Fraction(v, 2520), otypes=[object])(v) for k, v in integers.items()}
    tables = list(derivation.gradients.values())
    terms = sum(table.terms for table in tables)
    t_ints, _ = timed(lambda: [t.evaluate(integers, object) for t in tables], options.repeat)
    t_fractions_new, got = timed(lambda: [t.evaluate(rationals, object) for t in tables], options.repeat)
    t_fractions, want = timed(lambda: [fraction_baseline(t, rationals) for t in tables])
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    print(f"3. Exact values of the conv layer's gradients ({terms:,} terms): integer arithmetic at integer "
          f"points {t_ints:.3f} s, at the same points as Fractions p/2520 {t_fractions_new:.3f} s; Fraction term "
          f"by term (before) {t_fractions:.2f} s: ratios {t_ints / t_fractions:.3f} and {t_fractions_new / t_fractions:.3f}")

    small = conv_spec("conv2d", (1, 3, 16, 16), (8, 3, 3, 3), padding=1)
    fast = derive(small)
    plain = derive(small, method="structural")
    values = {k: np.random.default_rng(1).standard_normal(s)
              for k, s in {"x": small.input, "w": small.weight, "b": small.bias_shape, "dy": small.output_shape}.items()}
    t_fast, _ = timed(lambda: [t.evaluate(values) for t in fast.gradients.values()], options.repeat)
    t_plain, _ = timed(lambda: [evaluate_table(t, small.input if n == "dx" else
                                               small.weight if n == "dw" else small.bias_shape, values)
                                for n, t in plain.gradients.items()])
    print(f"4. Baseline, 16x16: walking SymPy expressions {t_plain:.2f} s vs array tables {t_fast:.4f} s: "
          f"ratio {t_fast / t_plain:.4f}")
    try:
        import torch
    except ImportError:
        print("   baseline PyTorch: not installed")
        return
    floats = {k: np.random.default_rng(2).standard_normal(s) for k, s in shapes.items()}
    x, w, b = (torch.tensor(floats[k], requires_grad=True) for k in ("x", "w", "b"))
    dy = torch.tensor(floats["dy"])

    def torch_step():
        y = torch.nn.functional.conv2d(x, w, b, padding=1)
        (y * dy).sum().backward()

    t_torch, _ = timed(torch_step, 20)
    t_float, _ = timed(lambda: derivation.gradients["dx"].evaluate(floats), options.repeat)
    print(f"   PyTorch forward+backward, 32x32, float64: {t_torch * 1e3:.2f} ms; "
          f"our float64 evaluation of dx / torch's whole step: {t_float / t_torch:.1f}x")


if __name__ == "__main__":
    main()
