"""Benchmark the NumPy convolution reference against PyTorch and the seeds' loops.

Run from the repository root:  .venv/bin/python benchmarks/bench_reference.py

Prints, never asserts. One forward + backward (dx, dw, db) per call, float64,
timed two ways in one run (see ``_timing.py``): in warm blocks, and call by
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
    median_ms,
    print_table,
    time_sides,
    time_single_calls,
    torch,
    tracemalloc_peak_mb,
)

from symconv.reference import conv_backward, conv_forward  # noqa: E402

LAYERS = [  # x shape, w shape, stride, padding; repeats per block
    ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 3),
    ((32, 3, 32, 32), (16, 3, 3, 3), 1, 1, 20),
    ((8, 32, 28, 28), (32, 32, 3, 3), 2, 1, 20),
]


#: Rounds of the single-call protocol (each one call per layer and side).
SINGLE_CALL_ROUNDS = 30


def layer_name(xs, ws, stride, padding):
    return f"x{xs} w{ws} s{stride} p{padding}"


def make_layer(xs, ws, stride, padding, seed=0):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    dy = rng.standard_normal(conv_forward(x, w, b, stride=stride, padding=padding).shape)
    return x, w, b, dy


def ours(x, w, b, dy, stride, padding):
    def run():
        conv_forward(x, w, b, stride=stride, padding=padding)
        conv_backward(dy, x, w, stride=stride, padding=padding)

    return run


def theirs(x, w, b, dy, stride, padding):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dyt = torch.tensor(dy)

    def run():
        for t in (xt, wt, bt):
            t.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(dyt)

    return run


# --------------------------------------------------------------------------
# The seeds' naive loops, transcribed: the forward from seed 001 (four loops,
# one np.sum per output) and conv_backward_naive from seed 002 (dw and dx by
# loops over n, c, f and the kernel or the output). Seed 002's dx loop is only
# right at stride 1 with padding (K-1)/2, which is the layer it is timed on.
# --------------------------------------------------------------------------


def seed_forward(x, w, b, pad, stride):
    n_batch, _, height, width = x.shape
    filters, _, hh, ww = w.shape
    out_h = 1 + (height + 2 * pad - hh) // stride
    out_w = 1 + (width + 2 * pad - ww) // stride
    x_pad = np.pad(x, ((0,), (0,), (pad,), (pad,)), "constant")
    out = np.zeros((n_batch, filters, out_h, out_w))
    for n in range(n_batch):
        for f in range(filters):
            for k in range(out_h):
                for l in range(out_w):  # noqa: E741  (the seed's name)
                    window = x_pad[n, :, k * stride:k * stride + hh, l * stride:l * stride + ww]
                    out[n, f, k, l] = np.sum(window * w[f, :]) + b[f]
    return out


def seed_backward(dout, x, w, pad, stride):
    n_batch, channels = x.shape[:2]
    filters, _, hh, ww = w.shape
    _, _, out_h, out_w = dout.shape
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    db = np.sum(dout, axis=(0, 2, 3))
    xp = np.pad(x, ((0,), (0,), (pad,), (pad,)), "constant")
    for n in range(n_batch):
        for c in range(channels):
            for f in range(filters):
                kernel = dout[n, f, :, :].reshape(-1)  # dy used as the filter
                for i in range(hh):
                    for j in range(ww):
                        volume = xp[n, c, i * stride:i * stride + out_h, j * stride:j * stride + out_w]
                        dw[f, c, i, j] += np.matmul(volume.reshape(-1), kernel.T)
    doutp = np.pad(dout, ((0,), (0,), (pad,), (pad,)), "constant")
    w_flipped = np.zeros_like(w)
    for i in range(hh):
        for j in range(ww):
            w_flipped[:, :, i, j] = w[:, :, hh - i - 1, ww - j - 1]
    for n in range(n_batch):
        for c in range(channels):
            for f in range(filters):
                kernel = w_flipped[f, c, :, :].reshape(-1)
                for i in range(out_h):
                    for j in range(out_w):
                        volume = doutp[n, f, i * stride:i * stride + hh, j * stride:j * stride + ww]
                        dx[n, c, i, j] += np.matmul(volume.reshape(-1), kernel.T)
    return dx, dw, db


def main():
    print("symconv.reference.conv convolution benchmark: forward + backward (dx, dw, db), float64")
    print(machine_line())
    print()

    cases = {layer_name(*spec[:4]): make_layer(*spec[:4]) + spec[2:4] for spec in LAYERS}
    repeats = {layer_name(*spec[:4]): spec[4] for spec in LAYERS}
    sides = {"ours": {name: ours(*args) for name, args in cases.items()}}
    if torch is not None:
        sides["torch"] = {name: theirs(*args) for name, args in cases.items()}
    samples = time_sides(sides, repeats)
    single = time_single_calls(sides, rounds=SINGLE_CALL_ROUNDS)

    headers = ["layer", "ours ms med [IQR]", "torch ms med [IQR]", "ours/torch med (min)"]
    names = [layer_name(*spec[:4]) for spec in LAYERS]
    rows = comparison_rows(samples, names)
    for row, name in zip(rows, names):
        inputs_mb = sum(a.nbytes for a in cases[name][:4]) / 2**20
        row += [f"{tracemalloc_peak_mb(sides['ours'][name]):.1f}", f"{inputs_mb:.1f}"]
    print("Blocks: warm-up, then repeated calls of one side; the blocks alternate over 5 rounds.")
    print_table(headers + ["ours peak MB", "inputs MB"], rows)
    print("ours peak MB: tracemalloc peak of one forward + backward, beyond its inputs (x, w, b, dy).")
    print()
    print(f"Single calls: ours and PyTorch's alternate call by call, every layer in turn, {SINGLE_CALL_ROUNDS} rounds.")
    print_table(headers[:3] + ["ours/torch med [IQR]"], comparison_rows(single, names, paired=True))
    print()

    # The seeds' loops on a small layer (they take seconds on anything bigger).
    xs, ws, stride, pad = (2, 3, 16, 16), (4, 3, 3, 3), 1, 1
    x, w, b, dy = make_layer(xs, ws, stride, pad)

    def seeds():
        seed_forward(x, w, b, pad, stride)
        seed_backward(dy, x, w, pad, stride)

    small = {"ours": {"small": ours(x, w, b, dy, stride, pad)}, "seeds": {"small": seeds}}
    small_samples = time_sides(small, {"small": 3}, rounds=2)
    ours_ms, seeds_ms = median_ms(small_samples["ours"]["small"]), median_ms(small_samples["seeds"]["small"])
    want = (conv_forward(x, w, b, padding=pad),) + conv_backward(dy, x, w, padding=pad)
    got = (seed_forward(x, w, b, pad, stride),) + seed_backward(dy, x, w, pad, stride)
    agree = max(float(np.max(np.abs(a - e))) for a, e in zip(got, want))
    print_table(
        ["layer", "seeds' loops ms", "ours ms", "seeds/ours", "max |diff|"],
        [[layer_name(xs, ws, stride, pad), f"{seeds_ms:.1f}", f"{ours_ms:.3f}", f"{seeds_ms / ours_ms:.0f}x", f"{agree:.1e}"]],
    )


if __name__ == "__main__":
    main()
