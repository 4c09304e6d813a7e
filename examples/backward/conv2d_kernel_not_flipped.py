"""Vectorised conv2d backward: "dx is the full convolution of dy with the kernel".

Mistake (kernel-not-flipped): dx correlates the stride-dilated, zero-padded dy
with w as it is, without rotating w by 180 degrees. dw and db are right.
"""

import numpy as np

KIND = "conv2d"
CONVENTION = "plain"
FUNCTION = "conv2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 3, 6, 6), weight=(2, 3, 3, 3), stride=2, padding=1)
MISTAKE = "kernel-not-flipped"


def conv2d_backward(dy, x, w, b, stride, padding):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, Ho, Wo = dy.shape
    SH, SW = stride
    PH, PW = padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))

    db = dy.sum(axis=(0, 2, 3))

    # dw[f, c, p, q] = sum_{n, i, j} dy[n, f, i, j] * x_pad[n, c, i*SH + p, j*SW + q]
    dw = np.zeros_like(w)
    for p in range(KH):
        for q in range(KW):
            patch = x_pad[:, :, p:p + SH * (Ho - 1) + 1:SH, q:q + SW * (Wo - 1) + 1:SW]
            dw[:, :, p, q] = np.einsum("nfij,ncij->fc", dy, patch)

    # dx: put SH-1 / SW-1 zeros between the entries of dy, pad it by K-1 all
    # round, and slide the kernel over it (a "full" correlation).
    dy_dil = np.zeros((N, F, SH * (Ho - 1) + 1, SW * (Wo - 1) + 1))
    dy_dil[:, :, ::SH, ::SW] = dy
    dy_full = np.pad(dy_dil, ((0, 0), (0, 0), (KH - 1, KH - 1), (KW - 1, KW - 1)))
    Hf = dy_full.shape[2] - KH + 1
    Wf = dy_full.shape[3] - KW + 1
    dx_pad = np.zeros_like(x_pad)  # rows/columns past Hf, Wf were never read
    for p in range(KH):
        for q in range(KW):
            dx_pad[:, :, :Hf, :Wf] += np.einsum("nfij,fc->ncij", dy_full[:, :, p:p + Hf, q:q + Wf], w[:, :, p, q])

    dx = dx_pad[:, :, PH:PH + H, PW:PW + W]
    return dx, dw, db
