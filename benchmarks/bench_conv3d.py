"""Benchmark conv3d and the padding modes: the NumPy reference against PyTorch, and the derivation's cost per term.

Run from the repository root:  .venv/bin/python benchmarks/bench_conv3d.py

Prints, never asserts, from one run:

1. the reference convolution, forward + backward (dx, dw, db) in float64, on
   3-D layers and on padding modes, against PyTorch CPU (``conv3d``, or
   ``F.pad`` with the mode and then the convolution): ours, PyTorch's and the
   ratio (target: at most 1.5);
2. derivation + JSON printing per gradient term, conv3d against conv2d layers
   of about the same number of terms, and a padding mode against zeros
   (issue 17 asks conv3d to stay within 1.3x of conv2d per term). The layers
   alternate within each round, as in :mod:`_timing`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_line, median_ms, min_ms, print_table, ratio, time_sides, torch  # noqa: E402

from symconv.reference import conv_backward, conv_forward  # noqa: E402

#: x shape, w shape, stride, padding, padding mode; repeats per block.
LAYERS = [
    ((4, 32, 16, 28, 28), (32, 32, 3, 3, 3), 1, 1, "zeros", 2),
    ((2, 3, 16, 56, 56), (16, 3, 3, 3, 3), 1, 1, "zeros", 3),
    ((4, 16, 16, 16, 16), (32, 16, 3, 3, 3), 2, 1, "zeros", 5),
    ((4, 16, 16, 28, 28), (16, 16, 3, 3, 3), 1, 1, "reflect", 3),
    ((8, 32, 28, 28), (32, 32, 3, 3), 1, 1, "reflect", 10),
    ((8, 32, 28, 28), (32, 32, 3, 3), 1, 1, "circular", 10),
]


def layer_name(xs, ws, stride, padding, mode):
    return f"x{xs} w{ws[2:]}x{ws[0]} s{stride} p{padding}" + ("" if mode == "zeros" else f" {mode}")


def make_layer(xs, ws, stride, padding, mode, seed=0):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    dy = rng.standard_normal(conv_forward(x, w, b, stride, padding, padding_mode=mode).shape)
    return x, w, b, dy


def ours(x, w, b, dy, stride, padding, mode):
    def run():
        conv_forward(x, w, b, stride, padding, padding_mode=mode)
        conv_backward(dy, x, w, stride, padding, padding_mode=mode)

    return run


def theirs(x, w, b, dy, stride, padding, mode):
    functional = torch.nn.functional
    conv = {3: functional.conv1d, 4: functional.conv2d, 5: functional.conv3d}[x.ndim]
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dyt = torch.tensor(dy)

    def run():
        for t in (xt, wt, bt):
            t.grad = None
        if mode == "zeros":
            y = conv(xt, wt, bt, stride=stride, padding=padding)
        else:  # what torch.nn.Conv3d(padding_mode=mode) does
            y = conv(functional.pad(xt, [padding] * 2 * (x.ndim - 2), mode=mode), wt, bt, stride=stride)
        y.backward(dyt)

    return run


def reference_table():
    cases = {layer_name(*spec[:5]): make_layer(*spec[:5]) + spec[2:5] for spec in LAYERS}
    repeats = {layer_name(*spec[:5]): spec[5] for spec in LAYERS}
    sides = {"ours": {name: ours(*args) for name, args in cases.items()}}
    if torch is not None:
        sides["torch"] = {name: theirs(*args) for name, args in cases.items()}
    samples = time_sides(sides, repeats, rounds=3)
    rows = []
    for spec in LAYERS:
        name = layer_name(*spec[:5])
        mine = samples["ours"][name]
        row = [name, f"{median_ms(mine):.1f} ({min_ms(mine):.1f})"]
        if torch is not None:
            other = samples["torch"][name]
            row += [f"{median_ms(other):.1f} ({min_ms(other):.1f})", ratio(mine, other)]
        rows.append(row)
    print_table(["layer (float64)", "ours ms med (min)", "torch ms med (min)", "ours/torch med (min)"], rows)


#: (name, kind, input, weight, padding mode): derivations of comparable size, conv2d and conv3d.
DERIVATIONS = [
    ("conv2d 1x3x32x32, 8x3x3x3, p1", "conv2d", (1, 3, 32, 32), (8, 3, 3, 3), "zeros"),
    ("conv3d 1x3x4x10x10, 8x3x3x3x3, p1", "conv3d", (1, 3, 4, 10, 10), (8, 3, 3, 3, 3), "zeros"),
    ("conv2d 1x3x44x44, 8x3x3x3, p1", "conv2d", (1, 3, 44, 44), (8, 3, 3, 3), "zeros"),
    ("conv3d 1x3x6x12x12, 8x3x3x3x3, p1", "conv3d", (1, 3, 6, 12, 12), (8, 3, 3, 3, 3), "zeros"),
    ("conv2d 1x3x32x32, 8x3x3x3, p1", "conv2d", (1, 3, 32, 32), (8, 3, 3, 3), "zeros"),
    ("conv2d 1x3x32x32, 8x3x3x3, p1 reflect", "conv2d", (1, 3, 32, 32), (8, 3, 3, 3), "reflect"),
    ("conv3d 1x3x4x10x10, 8x3x3x3x3, p1", "conv3d", (1, 3, 4, 10, 10), (8, 3, 3, 3, 3), "zeros"),
    ("conv3d 1x3x4x10x10, 8x3x3x3x3, p1 circular", "conv3d", (1, 3, 4, 10, 10), (8, 3, 3, 3, 3), "circular"),
]


def derivation_table(rounds: int = 3):
    from symconv.engine.derive import derive
    from symconv.printing.formats import render
    from symconv.spec.conv import conv_spec

    specs = {name: conv_spec(kind, x, w, padding=1, padding_mode=mode) for name, kind, x, w, mode in DERIVATIONS}
    seconds = {name: [] for name in specs}
    terms = {}
    for _ in range(rounds):  # every layer once per round, so a noisy moment hits them all
        for name, spec in specs.items():
            start = time.perf_counter()
            derivation = derive(spec)
            render(derivation, "json")
            seconds[name].append(time.perf_counter() - start)
            terms[name] = sum(table.terms for table in derivation.gradients.values())
    per_term = {name: 1e6 * min(seconds[name]) / terms[name] for name in specs}
    rows = []
    for position, (name, *_) in enumerate(DERIVATIONS):  # rows in pairs: the second against the first
        baseline = DERIVATIONS[position - 1][0]
        rows.append([name, f"{terms[name]:,}", f"{min(seconds[name]):.2f}", f"{per_term[name]:.2f}",
                     f"{per_term[name] / per_term[baseline]:.2f}" if position % 2 else ""])
    print_table(["derive + JSON (in process, min of rounds)", "gradient terms", "s", "us/term",
                 "vs the row above"], rows)


def main():
    print("conv3d and padding modes: symconv.reference.conv against PyTorch CPU, and the derivation per term")
    print(machine_line())
    print()
    reference_table()
    print()
    derivation_table()


if __name__ == "__main__":
    main()
