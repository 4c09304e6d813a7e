"""Naive conv2d backward for a grouped convolution (groups=2).

Mistake (groups-ignored): every filter reads input channels 0..Cg-1 (the group's
channel offset is never added), so dw uses x[:, :Cg] for all filters and dx of the
second group's channels stays zero. db is right.
"""

import numpy as np

KIND = "conv2d"
CONVENTION = "plain"
FUNCTION = "conv2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 4, 5, 5), weight=(4, 2, 3, 3), stride=1, padding=1, groups=2)
MISTAKE = "groups-ignored"


def conv2d_backward(dy, x, w, b, stride, padding, groups):
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape  # each filter sees Cg = C // groups input channels
    _, _, Ho, Wo = dy.shape
    SH, SW = stride
    PH, PW = padding

    x_pad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dy.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    hs, ws = i * SH, j * SW
                    dw[f] += x_pad[n, :Cg, hs:hs + KH, ws:ws + KW] * dy[n, f, i, j]
                    dx_pad[n, :Cg, hs:hs + KH, ws:ws + KW] += w[f] * dy[n, f, i, j]

    dx = dx_pad[:, :, PH:PH + H, PW:PW + W]
    return dx, dw, db
