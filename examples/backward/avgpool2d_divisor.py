"""Average-pool backward with padding 1 and count_include_pad=False (kernel 3, stride 2).

Mistake (avg-divisor): every window divides dy by KH*KW, although with
count_include_pad=False a window that overlaps the padding averages fewer inputs.
"""

import numpy as np

KIND = "avgpool2d"
CONVENTION = "plain"
FUNCTION = "avgpool2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 2, 7, 7), kernel=3, stride=2, padding=1, count_include_pad=False)
MISTAKE = "avg-divisor"


def avgpool2d_backward(dy, x, kernel_size, stride, padding, count_include_pad):
    N, C, H, W = x.shape
    KH, KW = kernel_size
    SH, SW = stride
    PH, PW = padding
    _, _, Ho, Wo = dy.shape

    dx_pad = np.zeros((N, C, H + 2 * PH, W + 2 * PW))
    for i in range(Ho):
        for j in range(Wo):
            hs, ws = i * SH, j * SW
            dx_pad[:, :, hs:hs + KH, ws:ws + KW] += dy[:, :, i, j][:, :, None, None] / (KH * KW)
    return dx_pad[:, :, PH:PH + H, PW:PW + W]
