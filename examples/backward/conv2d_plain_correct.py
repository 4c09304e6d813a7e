"""Correct backward pass of PyTorch's conv2d with stride, padding, dilation and groups.

Naive loops over the output windows: every window adds its share into the
gradient of the zero-padded input and of its filter, then the padding is cut off.
"""

import numpy as np

KIND = "conv2d"
CONVENTION = "plain"
FUNCTION = "conv2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 4, 6, 6), weight=(4, 2, 3, 3), stride=2, padding=2, dilation=2, groups=2)
MISTAKE = None


def _pairs(padding):
    """(before, after) per axis, from ints (symmetric) or pairs."""
    return [(p, p) if isinstance(p, (int, np.integer)) else tuple(p) for p in padding]


def conv2d_backward(dy, x, w, b, stride, padding, dilation, groups):
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    _, _, Ho, Wo = dy.shape
    SH, SW = stride
    DH, DW = dilation
    (top, bottom), (left, right) = _pairs(padding)
    Fg = F // groups  # filters per group; filter f reads channels g*Cg .. (g+1)*Cg - 1

    x_pad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dy.sum(axis=(0, 2, 3))

    span_h = DH * (KH - 1) + 1  # extent of a dilated window
    span_w = DW * (KW - 1) + 1
    for n in range(N):
        for f in range(F):
            g = f // Fg
            channels = slice(g * Cg, (g + 1) * Cg)
            for i in range(Ho):
                for j in range(Wo):
                    rows = slice(i * SH, i * SH + span_h, DH)
                    cols = slice(j * SW, j * SW + span_w, DW)
                    dw[f] += x_pad[n, channels, rows, cols] * dy[n, f, i, j]
                    dx_pad[n, channels, rows, cols] += w[f] * dy[n, f, i, j]

    dx = dx_pad[:, :, top:top + H, left:left + W]
    return dx, dw, db
