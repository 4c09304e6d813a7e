"""Benchmark: the cost per term of deriving (and printing) a transposed convolution, against a convolution's.

Run from the repository root:  .venv/bin/python benchmarks/bench_conv_transpose_derive.py [--repeat 5]

Each conv_transpose2d layer is the adjoint of the conv2d beside it (kernel 4,
stride 2, padding 1: the convolution halves each axis, the transposed one
doubles it back), so the two have about as many terms. Both are timed in the
same run, interleaved, in process: derive alone, and derive + JSON (the
end-to-end work of ``symconv derive --format json`` without the start-up).
Reported: microseconds per term (forward + gradients) and the ratio
conv_transpose2d / conv2d. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_line, print_table  # noqa: E402

from symconv.engine.derive import derive  # noqa: E402
from symconv.printing.formats import render  # noqa: E402
from symconv.spec.conv import conv_spec  # noqa: E402
from symconv.spec.conv_transpose import conv_transpose_spec  # noqa: E402

SIZES = (8, 16, 32)


def layers(size):
    return {
        "conv2d": conv_spec("conv2d", (1, 3, size, size), (8, 3, 4, 4), stride=2, padding=1),
        "conv_transpose2d": conv_transpose_spec("conv_transpose2d", (1, 8, size // 2, size // 2), (8, 3, 4, 4),
                                                stride=2, padding=1),
    }


def terms_of(derivation):
    return derivation.forward.terms + sum(table.terms for table in derivation.gradients.values())


def best(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(machine_line())
    rows = []
    for size in SIZES:
        specs = layers(size)
        terms = {kind: terms_of(derive(spec)) for kind, spec in specs.items()}
        timed = {kind: {"derive": [], "json": []} for kind in specs}
        for _ in range(3):  # rounds alternate the two kinds, so a noisy moment hits both
            for kind, spec in specs.items():
                timed[kind]["derive"].append(best(lambda: derive(spec), args.repeat))
                timed[kind]["json"].append(best(lambda: render(derive(spec), "json"), max(1, args.repeat // 2)))
        per_term = {kind: {step: 1e6 * min(t) / terms[kind] for step, t in steps.items()}
                    for kind, steps in timed.items()}
        for step in ("derive", "json"):
            conv, transposed = per_term["conv2d"][step], per_term["conv_transpose2d"][step]
            rows.append([f"{size}x{size} ({'derive' if step == 'derive' else 'derive + JSON'})",
                         f"{terms['conv2d']:,}", f"{conv:.3f}", f"{terms['conv_transpose2d']:,}", f"{transposed:.3f}",
                         f"{transposed / conv:.2f}"])
    print_table(["conv2d input = conv_transpose2d output", "conv2d terms", "us/term", "conv_transpose2d terms",
                 "us/term", "ratio"], rows)


if __name__ == "__main__":
    main()
