"""cs231n-style naive conv backward for a layer with stride 2.

Mistake (stride-ignored): the window of output (i, j) is taken at x_pad[..., i:i+HH, j:j+WW]
instead of at (i*stride, j*stride), both in dx and in dw. db is right.
"""

import numpy as np

KIND = "conv2d"
CONVENTION = "cs231n"
FUNCTION = "conv_backward_naive"
FORWARD = None
OPTIONS = dict(input=(2, 3, 7, 7), weight=(3, 3, 3, 3), stride=2, padding=1)
MISTAKE = "stride-ignored"


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.sum(dout, axis=(0, 2, 3))

    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i:i + HH, j:j + WW]
                    dw[f] += window * dout[n, f, i, j]
                    dx_pad[n, :, i:i + HH, j:j + WW] += w[f] * dout[n, f, i, j]

    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db
