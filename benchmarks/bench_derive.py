"""Benchmark: deriving and printing a convolution's gradients.

Prints, from one run:

1. ``symconv derive`` end to end (a fresh process: start-up, derivation,
   printing) for the seeds' 4x4 example and for x (1,3,S,S) / w (8,3,3,3),
   padding 1, with S = 4, 8, 16, 32;
2. the in-process cost per gradient term of derivation + JSON printing at each
   size (target: flat within 2x from 4x4 to 32x32);
3. the baselines on the same layers, each differentiating y = conv(x, w) + b
   output by output with respect to its own elements (no printing):
   SymEngine (when installed) and SymPy (up to --sympy-max, as it needs
   about 6 minutes at 32x32), with our time / theirs.

Targets (issue "Speed"): the 32x32 layer end to end in at most 5 s, and at
most half of SymEngine's bare derivation; the 4x4 example under 1 s.

Usage:  python benchmarks/bench_derive.py [--sympy-max 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np

from symconv.engine.derive import derive
from symconv.printing.formats import render
from symconv.spec.conv import conv_spec

SIZES = (4, 8, 16, 32)


def cli_seconds(args: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time of ``python -m symconv ARGS`` and the children's peak RSS (MB)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "symconv", *args], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return float(np.median(times)), peak_mb


def layer_args(size: int) -> list[str]:
    return ["derive", "conv2d", "--input", f"1,3,{size},{size}", "--weight", "8,3,3,3",
            "--padding", "1", "--format", "json"]


def in_process(size: int, repeat: int) -> tuple[float, int, float]:
    """Seconds for derive + JSON render, gradient terms, and traced peak MB."""
    spec = conv_spec("conv2d", (1, 3, size, size), (8, 3, 3, 3), padding=1)
    times = []
    for attempt in range(repeat):
        if attempt == 0:
            tracemalloc.start()
        start = time.perf_counter()
        derivation = derive(spec)
        render(derivation, "json")
        times.append(time.perf_counter() - start)
        if attempt == 0:
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    terms = sum(table.terms for table in derivation.gradients.values())
    return float(np.min(times[1:] or times)), terms, peak


def forward_as_plain_symbols(size: int, module):
    """y = conv(x, w) + b output by output, with one plain Symbol per element."""
    spec = conv_spec("conv2d", (1, 3, size, size), (8, 3, 3, 3), padding=1)
    from symconv.layers.conv import conv_forward

    table = conv_forward(spec)
    symbols = [module.Symbol(name.replace("[", "_").replace("]", "").replace(", ", "_"))
               for name in table.space.strings]
    rows, bounds = table.ordered(np.arange(table.space.size))
    outputs = []
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        terms = [module.Mul(*(symbols[f] for f in row if f >= 0)) for row in rows[start:stop].tolist()]
        outputs.append(module.Add(*terms))
    return outputs


def baseline_seconds(size: int, module) -> tuple[float, int]:
    """Per-output diff: each y_i w.r.t. each of its own elements, times dy_i."""
    outputs = forward_as_plain_symbols(size, module)
    upstream = [module.Symbol(f"dy_{i}") for i in range(len(outputs))]
    start = time.perf_counter()
    terms = 0
    for y, dy in zip(outputs, upstream):
        for element in y.free_symbols:
            upstream_term = dy * module.diff(y, element)
            terms += 1 if upstream_term != 0 else 0
    return time.perf_counter() - start, terms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sympy-max", type=int, default=16, help="largest S for the SymPy baseline")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    import sympy

    try:
        import symengine
    except ImportError:
        symengine = None
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"sympy {sympy.__version__}, symengine {getattr(symengine, '__version__', 'not installed')}, "
          f"numpy {np.__version__}")
    print()

    seed_time, seed_peak = cli_seconds(["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2"], options.repeat)
    print(f"seeds' 4x4 example, `symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2` end to end: "
          f"{seed_time:.2f} s (target < 1 s)")
    print()

    header = ("S", "grad terms", "CLI end-to-end s", "in-process s", "us/term", "peak MB",
              "SymEngine s", "ours/SymEngine", "SymPy s", "ours/SymPy")
    rows = []
    per_term = {}
    for size in SIZES:
        cli_time, _ = cli_seconds(layer_args(size), options.repeat)
        seconds, terms, peak = in_process(size, options.repeat)
        per_term[size] = seconds / terms * 1e6
        se_time = sp_time = None
        if symengine is not None:
            se_time, _ = baseline_seconds(size, symengine)
        if size <= options.sympy_max:
            sp_time, _ = baseline_seconds(size, sympy)
        rows.append((
            str(size), f"{terms:,}", f"{cli_time:.2f}", f"{seconds:.3f}", f"{per_term[size]:.2f}",
            f"{peak:.0f}",
            "-" if se_time is None else f"{se_time:.2f}",
            "-" if se_time is None else f"{cli_time / se_time:.2f}",
            "-" if sp_time is None else f"{sp_time:.1f}",
            "-" if sp_time is None else f"{cli_time / sp_time:.4f}",
        ))
        print(f"  measured S={size}", file=sys.stderr)
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
    print()
    spread = max(per_term.values()) / min(per_term.values())
    print(f"per-term cost spread (max/min over S={SIZES[0]}..{SIZES[-1]}): {spread:.2f}x (target <= 2x)")
    last = rows[-1]
    print(f"32x32 end to end: {last[2]} s (target <= 5 s); ours/SymEngine: {last[7]} (target <= 0.5)")
    print("ratios compare our whole CLI run (start-up, derivation, printing) with the baseline's bare "
          "differentiation (no start-up, no printing)")


if __name__ == "__main__":
    main()
