"""Vectorised conv2d backward, one kernel tap at a time, with padding 1.

Mistake (padding-offset): the gradient of the zero-padded input is right, but it is
cropped as dx_pad[..., :H, :W] instead of dx_pad[..., P:P+H, P:P+W]. dw, db are right.
"""

import numpy as np

KIND = "conv2d"
CONVENTION = "plain"
FUNCTION = "conv2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 2, 5, 5), weight=(3, 2, 3, 3), stride=1, padding=1)
MISTAKE = "padding-offset"


def conv2d_backward(dy, x, w, b, stride, padding):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, Ho, Wo = dy.shape
    SH, SW = stride
    PH, PW = padding

    x_pad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for p in range(KH):
        for q in range(KW):
            rows = slice(p, p + SH * (Ho - 1) + 1, SH)
            cols = slice(q, q + SW * (Wo - 1) + 1, SW)
            dw[:, :, p, q] = np.einsum("nfij,ncij->fc", dy, x_pad[:, :, rows, cols])
            dx_pad[:, :, rows, cols] += np.einsum("nfij,fc->ncij", dy, w[:, :, p, q])
    db = dy.sum(axis=(0, 2, 3))

    dx = dx_pad[:, :, :H, :W]
    return dx, dw, db
