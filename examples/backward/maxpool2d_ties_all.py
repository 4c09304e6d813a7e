"""Vectorised max-pool backward (2x2 windows, stride 2), one window position at a time.

Mistake (max-ties-all): the mask is window == window.max(), so every tied maximum
of a window gets the full dy; PyTorch gives it to the first maximum only.
"""

import numpy as np

KIND = "maxpool2d"
CONVENTION = "plain"
FUNCTION = "maxpool2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 3, 6, 6), kernel=2, stride=2)
MISTAKE = "max-ties-all"


def maxpool2d_backward(dy, x, kernel_size, stride):
    KH, KW = kernel_size
    SH, SW = stride
    _, _, Ho, Wo = dy.shape
    dx = np.zeros_like(x)
    for i in range(Ho):
        for j in range(Wo):
            hs, ws = i * SH, j * SW
            window = x[:, :, hs:hs + KH, ws:ws + KW]
            mask = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, hs:hs + KH, ws:ws + KW] += mask * dy[:, :, i, j][:, :, None, None]
    return dx
