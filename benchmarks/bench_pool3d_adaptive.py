"""Benchmark the 3-D and adaptive pooling references against PyTorch, and their derivation time.

Run from the repository root:  .venv/bin/python benchmarks/bench_pool3d_adaptive.py

Prints, never asserts. The reference part times one forward + backward (dx)
per call, float64, ours and PyTorch's in alternating blocks (see _timing.py),
and prints both and the ratio. The layers are realistic ones:

* max pool 3x3x3, stride 2, padding 1 on (2, 64, 8, 56, 56): a video ResNet's stem;
* avg pool 2x2x2 on the same input;
* adaptive average pooling to 1 on (8, 512, 7, 7): a ResNet's head, and max pooling to 1 on it
  (the max half of a concat-pool head, fastai's AdaptiveConcatPool2d);
* adaptive average and max pooling (13, 13) -> (6, 6) on (8, 256, 13, 13): AlexNet's.

On a shared machine, wall-clock times swing with the load (PyTorch's two
threads suffer most), so a second table gives the CPU time of one call
(``time.process_time``, all threads, the minimum over the repeats) with
PyTorch held to one thread: the work each side does, which the load moves
far less.

The derivation part times, in this process, ``derive`` plus the JSON text of
a small 3-D and adaptive pool, the path ``symconv derive --format json`` takes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_line, median_ms, min_ms, print_table, ratio, time_sides, torch  # noqa: E402

from symconv.reference import (  # noqa: E402
    adaptive_avg_pool_backward,
    adaptive_avg_pool_forward,
    adaptive_max_pool_backward,
    adaptive_max_pool_forward,
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)

CASES = [  # name, x shape, ours (forward, backward, options), PyTorch's (function, arguments)
    ("maxpool3d k3 s2 p1", (2, 64, 8, 56, 56), (max_pool_forward, max_pool_backward, dict(kernel=3, stride=2, padding=1)),
     ("max_pool3d", (3, 2, 1))),
    ("avgpool3d k2", (2, 64, 8, 56, 56), (avg_pool_forward, avg_pool_backward, dict(kernel=2)), ("avg_pool3d", (2,))),
    ("adaptive avg to 1", (8, 512, 7, 7), (adaptive_avg_pool_forward, adaptive_avg_pool_backward, dict(output_size=1)),
     ("adaptive_avg_pool2d", (1,))),
    ("adaptive max to 1", (8, 512, 7, 7), (adaptive_max_pool_forward, adaptive_max_pool_backward, dict(output_size=1)),
     ("adaptive_max_pool2d", (1,))),
    ("adaptive avg 13 to 6", (8, 256, 13, 13),
     (adaptive_avg_pool_forward, adaptive_avg_pool_backward, dict(output_size=6)), ("adaptive_avg_pool2d", (6,))),
    ("adaptive max 13 to 6", (8, 256, 13, 13),
     (adaptive_max_pool_forward, adaptive_max_pool_backward, dict(output_size=6)), ("adaptive_max_pool2d", (6,))),
]
REPEATS = 5

DERIVATIONS = [  # kind, input, options
    ("maxpool3d", (1, 2, 8, 8, 8), dict(kernel=3, stride=2, padding=1)),
    ("avgpool3d", (1, 2, 8, 8, 8), dict(kernel=2)),
    ("adaptive_avgpool2d", (1, 8, 13, 13), dict(output_size=6)),
    ("adaptive_maxpool2d", (1, 8, 13, 13), dict(output_size=6)),
]


def ours(forward, backward, options, x, dy):
    def run():
        forward(x, **options)
        backward(dy, x, **options)
    return run


def theirs(name, arguments, x, dy):
    pool = getattr(torch.nn.functional, name)
    xt, dyt = torch.tensor(x, requires_grad=True), torch.tensor(dy)

    def run():
        xt.grad = None
        pool(xt, *arguments).backward(dyt)
    return run


def reference_table():
    rng = np.random.default_rng(0)
    inputs, sides = {}, {"ours": {}, "torch": {}}
    for name, shape, (forward, backward, options), (their_name, arguments) in CASES:
        x = rng.standard_normal(shape)
        dy = rng.standard_normal(forward(x, **options).shape)
        inputs[name] = x
        sides["ours"][name] = ours(forward, backward, options, x, dy)
        if torch is not None:
            sides["torch"][name] = theirs(their_name, arguments, x, dy)
    if torch is None:
        del sides["torch"]
    samples = time_sides(sides, REPEATS)
    rows = []
    for name, shape, *_ in CASES:
        mine = samples["ours"][name]
        row = [name, "x".join(map(str, shape)), f"{median_ms(mine):.2f} ({min_ms(mine):.2f})"]
        if torch is not None:
            other = samples["torch"][name]
            row += [f"{median_ms(other):.2f} ({min_ms(other):.2f})", ratio(mine, other)]
        rows.append(row)
    print_table(["case", "x", "ours ms med (min)", "torch ms med (min)", "ours/torch med (min)"], rows)


def cpu_ms(fn, repeats):
    """The least process CPU time (all threads) of one call, in ms, after a warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return 1e3 * best


def cpu_table():
    rng = np.random.default_rng(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for name, shape, (forward, backward, options), (their_name, arguments) in CASES:
            x = rng.standard_normal(shape)
            dy = rng.standard_normal(forward(x, **options).shape)
            mine, other = ours(forward, backward, options, x, dy), theirs(their_name, arguments, x, dy)
            a, b = [], []
            for _ in range(3):  # alternate, so a busy moment hits both
                a.append(cpu_ms(mine, REPEATS))
                b.append(cpu_ms(other, REPEATS))
            rows.append([name, f"{min(a):.2f}", f"{min(b):.2f}", f"{min(a) / min(b):.2f}"])
    finally:
        torch.set_num_threads(threads)
    print_table(["case", "ours CPU ms", "torch CPU ms (1 thread)", "ours/torch"], rows)


def derivation_table():
    from symconv.engine.derive import derive
    from symconv.printing.formats import render
    from symconv.spec.options import build_spec

    rows = []
    for kind, shape, options in DERIVATIONS:
        spec = build_spec(kind, shape, **options)
        start = time.perf_counter()
        derivation = derive(spec)
        derived = time.perf_counter() - start
        text = render(derivation, "json")
        total = time.perf_counter() - start
        shown = ", ".join(f"{k}={v}" for k, v in options.items())
        rows.append([f"{kind} {'x'.join(map(str, shape))} {shown}", f"{spec.estimate_terms():,}",
                     f"{derived:.2f}", f"{total:.2f}", f"{len(text) / 2**20:.1f}"])
    print_table(["layer", "estimated terms", "derive s", "derive + JSON s", "JSON MB"], rows)


def main():
    print("symconv 3-D and adaptive pooling: reference forward + backward (dx) vs PyTorch, float64")
    print(machine_line())
    print()
    reference_table()
    if torch is not None:
        print()
        print("CPU time of one call (process_time, all threads; PyTorch on one thread)")
        cpu_table()
    print()
    print("derivation, in process (SymPy's import not counted)")
    derivation_table()


if __name__ == "__main__":
    main()
