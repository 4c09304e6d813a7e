"""Benchmark the NumPy transposed-convolution reference against PyTorch, one layer per dimension.

Run from the repository root:  .venv/bin/python benchmarks/bench_conv_transpose.py

Prints, never asserts. One forward + backward (dx, dw, db) per call, float64,
ours and PyTorch's timed in alternating blocks of the same run (benchmarks/_timing.py).
The layers are the upsampling steps of a DCGAN-like decoder (kernel 4,
stride 2, padding 1: each axis doubles) and a 3-D one of a volumetric decoder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_line, median_ms, min_ms, print_table, ratio, time_sides, torch  # noqa: E402

from symconv.reference.conv_transpose import conv_transpose_backward, conv_transpose_forward  # noqa: E402

LAYERS = [  # x shape, w shape (C_in, C_out/groups, *K), stride, padding, output_padding; repeats per block
    ((16, 64, 256), (64, 32, 4), 2, 1, 0, 10),
    ((8, 64, 28, 28), (64, 32, 4, 4), 2, 1, 0, 5),
    ((2, 32, 8, 16, 16), (32, 16, 4, 4, 4), 2, 1, 0, 3),
]


def layer_name(xs, ws, stride, padding, output_padding):
    return f"x{xs} w{ws} s{stride} p{padding} op{output_padding}"


def make_layer(xs, ws, stride, padding, output_padding, seed=0):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1])
    y = conv_transpose_forward(x, w, b, stride=stride, padding=padding, output_padding=output_padding)
    return x, w, b, rng.standard_normal(y.shape)


def ours(x, w, b, dy, options):
    def run():
        conv_transpose_forward(x, w, b, **options)
        conv_transpose_backward(dy, x, w, **options)

    return run


def theirs(x, w, b, dy, options):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dyt = torch.tensor(dy)
    function = {3: torch.nn.functional.conv_transpose1d, 4: torch.nn.functional.conv_transpose2d,
                5: torch.nn.functional.conv_transpose3d}[x.ndim]

    def run():
        for t in (xt, wt, bt):
            t.grad = None
        function(xt, wt, bt, **options).backward(dyt)

    return run


def main():
    print(machine_line())
    sides, repeats, names = {"ours": {}, "torch": {}}, {}, []
    for xs, ws, stride, padding, output_padding, count in LAYERS:
        name = layer_name(xs, ws, stride, padding, output_padding)
        names.append(name)
        options = dict(stride=stride, padding=padding, output_padding=output_padding)
        x, w, b, dy = make_layer(xs, ws, stride, padding, output_padding)
        if torch is not None:
            got = conv_transpose_backward(dy, x, w, **options)
            tensors = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
            function = {3: torch.nn.functional.conv_transpose1d, 4: torch.nn.functional.conv_transpose2d,
                        5: torch.nn.functional.conv_transpose3d}[x.ndim]
            function(*tensors, **options).backward(torch.tensor(dy))
            worst = max(float(np.abs(a - t.grad.numpy()).max()) for a, t in zip(got, tensors))
            print(f"{name}: largest difference from PyTorch's gradients {worst:.1e}")
            sides["torch"][name] = theirs(x, w, b, dy, options)
        sides["ours"][name] = ours(x, w, b, dy, options)
        repeats[name] = count
    samples = time_sides({k: v for k, v in sides.items() if v}, repeats)
    rows = []
    for name in names:
        mine = samples["ours"][name]
        row = [name, f"{median_ms(mine):.1f} (min {min_ms(mine):.1f})"]
        if "torch" in samples:
            other = samples["torch"][name]
            row += [f"{median_ms(other):.1f} (min {min_ms(other):.1f})", ratio(mine, other)]
        rows.append(row)
    headers = ["layer (forward + backward)", "ours ms", "torch ms", "ours/torch"][: len(rows[0])]
    print_table(headers, rows)


if __name__ == "__main__":
    main()
