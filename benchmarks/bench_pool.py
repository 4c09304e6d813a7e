"""Benchmark the NumPy pooling reference against PyTorch.

Run from the repository root:  .venv/bin/python benchmarks/bench_pool.py

Prints, never asserts. One forward + backward (dx) per call, float64. Our
backward takes (dy, x) and recomputes the window maxima; PyTorch's autograd
keeps the argmax indices from its forward, so its backward does less.
Timed two ways in one run (see ``_timing.py``): in warm blocks, and call by
call alternating with PyTorch, as ``verify`` and ``check`` call the kernels.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import (  # noqa: E402
    comparison_rows,
    machine_line,
    print_table,
    time_sides,
    time_single_calls,
    torch,
    tracemalloc_peak_mb,
)

from symconv.reference import (  # noqa: E402
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)

X_SHAPE = (8, 64, 56, 56)
CASES = [  # kind, kwargs
    ("max", dict(kernel=2, stride=2)),
    ("max", dict(kernel=3, stride=2, padding=1)),
    ("avg", dict(kernel=2, stride=2)),
    ("avg", dict(kernel=3, stride=2, padding=1)),
    ("avg", dict(kernel=3, stride=2, padding=1, count_include_pad=False)),
]
REPEATS = 10
#: Rounds of the single-call protocol (each one call per case and side).
SINGLE_CALL_ROUNDS = 20


def case_name(kind, kwargs):
    return f"{kind} " + " ".join(f"{k}={v}" for k, v in kwargs.items())


def ours(kind, kwargs, x, dy):
    forward, backward = {
        "max": (max_pool_forward, max_pool_backward),
        "avg": (avg_pool_forward, avg_pool_backward),
    }[kind]

    def run():
        forward(x, **kwargs)
        backward(dy, x, **kwargs)

    return run


def theirs(kind, kwargs, x, dy):
    pool = {"max": torch.nn.functional.max_pool2d, "avg": torch.nn.functional.avg_pool2d}[kind]
    kw = dict(kwargs)
    kernel = kw.pop("kernel")
    xt, dyt = torch.tensor(x, requires_grad=True), torch.tensor(dy)

    def run():
        xt.grad = None
        pool(xt, kernel, **kw).backward(dyt)

    return run


def main():
    print(f"symconv.reference.conv pooling benchmark: forward + backward (dx), float64, x {X_SHAPE}")
    print(machine_line())
    print()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(X_SHAPE)
    inputs = {}
    for kind, kwargs in CASES:
        forward = max_pool_forward if kind == "max" else avg_pool_forward
        inputs[case_name(kind, kwargs)] = (kind, kwargs, x, rng.standard_normal(forward(x, **kwargs).shape))

    sides = {"ours": {name: ours(*args) for name, args in inputs.items()}}
    if torch is not None:
        sides["torch"] = {name: theirs(*args) for name, args in inputs.items()}
    samples = time_sides(sides, REPEATS)
    single = time_single_calls(sides, rounds=SINGLE_CALL_ROUNDS)

    headers = ["case", "ours ms med [IQR]", "torch ms med [IQR]", "ours/torch med (min)"]
    rows = comparison_rows(samples, list(inputs))
    for row, (name, (_, _, x, dy)) in zip(rows, inputs.items()):
        row += [f"{tracemalloc_peak_mb(sides['ours'][name]):.1f}", f"{(x.nbytes + dy.nbytes) / 2**20:.1f}"]
    print(f"Blocks: warm-up, then {REPEATS} calls of one side; the blocks alternate over 5 rounds.")
    print_table(headers + ["ours peak MB", "inputs MB"], rows)
    print("ours peak MB: tracemalloc peak of one forward + backward, beyond its inputs (x, dy).")
    print()
    print(f"Single calls: ours and PyTorch's alternate call by call, every case in turn, {SINGLE_CALL_ROUNDS} rounds.")
    print_table(headers[:3] + ["ours/torch med [IQR]"], comparison_rows(single, list(inputs), paired=True))


if __name__ == "__main__":
    main()
