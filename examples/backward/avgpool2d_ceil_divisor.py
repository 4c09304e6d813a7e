"""Average-pool backward with ceil_mode=True (kernel 3, stride 2, no padding).

Mistake (avg-divisor): the last windows, which ceil_mode lets stick out past the
input, are clipped to it correctly but still divided by KH*KW; PyTorch divides a
clipped window by its clipped size.
"""

import numpy as np

KIND = "avgpool2d"
CONVENTION = "plain"
FUNCTION = "avgpool2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 2, 6, 6), kernel=3, stride=2, ceil_mode=True)
MISTAKE = "avg-divisor"


def avgpool2d_backward(dy, x, kernel_size, stride, ceil_mode):
    N, C, H, W = x.shape
    KH, KW = kernel_size
    SH, SW = stride
    _, _, Ho, Wo = dy.shape  # with ceil_mode, one more window per axis than floor

    dx = np.zeros_like(x)
    for i in range(Ho):
        hs, he = i * SH, min(i * SH + KH, H)
        for j in range(Wo):
            ws, we = j * SW, min(j * SW + KW, W)
            dx[:, :, hs:he, ws:we] += dy[:, :, i, j][:, :, None, None] / (KH * KW)
    return dx
