"""What bounds the convolution reference against PyTorch on a small machine.

Run from the repository root:  .venv/bin/python benchmarks/bench_reference_floor.py  (~30 s)

Issue 17's goal 5 asks for the NumPy reference kernels within 1.0x of
PyTorch. This script prints, from one run, the measurements behind the gap
on the two small convolutions of ``bench_reference.py``:

1. One thread against one thread, and two against two: how much work each
   side does, and how much the second core gives each.
2. The floor of any im2col kernel built on NumPy: the layer's three matrix
   products alone (forward, dw, dx: one GEMM per sample each, split over
   both cores as the kernels split them), against PyTorch's whole forward +
   backward. What is left of PyTorch's time is all that im2col, col2im and
   the rest may take.
3. Why element-wise NumPy calls barely gain from a second thread: the same
   in-place additions, on one thread and split over two, by array size.
   Every call gives up and takes back the GIL, and below some 30,000
   elements the hand-over costs more than the call.
4. What a PyTorch call leaves behind: the CPU time the process burns during
   a 20 ms sleep right after one call of PyTorch's, and after one of ours.

Prints, never asserts. Blocks as in ``_timing.py``: warm-up, then repeated
calls of one side, medians.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_line, median_ms, print_table, time_block, torch  # noqa: E402
from bench_reference import layer_name, make_layer, ours, theirs  # noqa: E402

from symconv.reference import threads  # noqa: E402
from symconv.reference.threads import run_parts, split  # noqa: E402

LAYERS = [  # x shape, w shape, stride, padding (the small layers of bench_reference.py)
    ((32, 3, 32, 32), (16, 3, 3, 3), 1, 1),
    ((8, 32, 28, 28), (32, 32, 3, 3), 2, 1),
]
REPEATS = 40


def blocks(fn, rounds=3):
    """Median ms over ``rounds`` warm blocks of :data:`REPEATS` calls."""
    times = []
    for _ in range(rounds):
        times += time_block(fn, REPEATS)
    return median_ms(times)


class one_thread:
    """Both sides on one thread inside the ``with`` block."""

    def __enter__(self):
        self.cores = threads.cores
        threads.cores = lambda: 1
        if torch is not None:
            self.torch_threads = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        threads.cores = self.cores
        if torch is not None:
            torch.set_num_threads(self.torch_threads)


def gemms_alone(xs, ws, stride, padding):
    """The layer's three GEMMs per sample on random operands of their shapes,
    the samples split over the cores: what an im2col kernel cannot go below."""
    n, c = xs[:2]
    f, k = ws[0], int(np.prod(ws[2:]))
    out = [(size + 2 * padding - kk) // stride + 1 for size, kk in zip(xs[2:], ws[2:])]
    p = int(np.prod(out))
    rng = np.random.default_rng(1)
    w, cols, dy = rng.standard_normal((f, c * k)), rng.standard_normal((n, c * k, p)), rng.standard_normal((n, f, p))
    y, dcols = np.empty((n, f, p)), np.empty((n, c * k, p))

    def part(samples):
        np.matmul(w, cols[samples], out=y[samples])  # forward
        np.matmul(dy[samples], cols[samples].swapaxes(-1, -2)).sum(axis=0)  # dw
        np.matmul(w.T, dy[samples], out=dcols[samples])  # dx's column gradients

    parts = split(n, threads.cores())
    return lambda: run_parts(part, parts)


def layer_table():
    rows = []
    for spec in LAYERS:
        args = make_layer(*spec)
        mine, floor = ours(*args, *spec[2:]), gemms_alone(*spec)
        base = theirs(*args, *spec[2:]) if torch is not None else None
        with one_thread():
            mine_1 = blocks(mine)
            base_1 = blocks(base) if base else float("nan")
        mine_2, floor_2 = blocks(mine), blocks(floor)
        base_2 = blocks(base) if base else float("nan")
        rows.append([
            layer_name(*spec),
            f"{mine_1:.2f} / {base_1:.2f} = {mine_1 / base_1:.2f}",
            f"{mine_2:.2f} / {base_2:.2f} = {mine_2 / base_2:.2f}",
            f"{mine_1 / mine_2:.2f}x, {base_1 / base_2:.2f}x",
            f"{floor_2:.2f} / {base_2:.2f} = {floor_2 / base_2:.2f}",
        ])
    print("1-2. Forward + backward, float64, ms (medians of warm blocks): ours / PyTorch = ratio")
    print_table(["layer", "one thread each", "two threads each", "second core gives (ours, PyTorch)",
                 "three GEMMs alone / PyTorch"], rows)
    print()


def gil_table():
    rng = np.random.default_rng(2)
    rows = []
    for size in (1_000, 10_000, 30_000, 100_000, 300_000):
        calls = 3_000_000 // size  # the same work at every size
        a, b = rng.standard_normal((2, size)), rng.standard_normal((2, size))

        def add(i, a=a, b=b, calls=calls):
            row, other = a[i], b[i]
            for _ in range(calls):
                row += other

        serial = blocks(lambda add=add: [add(0), add(1)], rounds=1)
        split_ = blocks(lambda add=add: run_parts(add, [0, 1]), rounds=1)
        rows.append([f"{size:,}", f"{calls}", f"{serial:.2f}", f"{split_:.2f}", f"{serial / split_:.2f}x"])
    print("3. In-place additions a += b, two rows' worth, on one thread and split over two (ms)")
    print_table(["elements per call", "calls per row", "one thread", "two threads", "gain"], rows)
    print()


def spin_table():
    if torch is None:
        print("4. skipped: torch is not installed")
        return
    rows = []
    for spec in LAYERS:
        args = make_layer(*spec)
        sides = {"PyTorch": theirs(*args, *spec[2:]), "ours": ours(*args, *spec[2:])}
        burnt = {}
        for name, fn in sides.items():
            fn()
            cpu = []
            for _ in range(15):
                fn()
                start = time.process_time()
                time.sleep(0.02)
                cpu.append(1e3 * (time.process_time() - start))
            burnt[name] = statistics.median(cpu)
        rows.append([layer_name(*spec), f"{burnt['ours']:.2f}", f"{burnt['PyTorch']:.2f}"])
    print("4. CPU ms the process burns while it sleeps 20 ms right after one call")
    print_table(["layer", "after ours", "after PyTorch"], rows)


def main():
    print("What bounds the convolution reference against PyTorch (issue 17, goal 5)")
    print(machine_line())
    print()
    layer_table()
    gil_table()
    spin_table()


if __name__ == "__main__":
    main()
