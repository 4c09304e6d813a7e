"""Correct max-pool backward with overlapping windows (kernel 3, stride 2, padding 1).

Each window's gradient goes to its first maximum in row-major order, as
PyTorch does; the padding counts as -inf and is cropped off at the end.
"""

import numpy as np

KIND = "maxpool2d"
CONVENTION = "plain"
FUNCTION = "maxpool2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 2, 7, 7), kernel=3, stride=2, padding=1)
MISTAKE = None


def maxpool2d_backward(dy, x, kernel_size, stride, padding):
    N, C, H, W = x.shape
    KH, KW = kernel_size
    SH, SW = stride
    PH, PW = padding
    _, _, Ho, Wo = dy.shape

    x_pad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)), constant_values=-np.inf)
    dx_pad = np.zeros_like(x_pad)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    hs, ws = i * SH, j * SW
                    window = x_pad[n, c, hs:hs + KH, ws:ws + KW]
                    r, s = np.unravel_index(np.argmax(window), window.shape)  # first maximum
                    dx_pad[n, c, hs + r, ws + s] += dy[n, c, i, j]
    return dx_pad[:, :, PH:PH + H, PW:PW + W]
