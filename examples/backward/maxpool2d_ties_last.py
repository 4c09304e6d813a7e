"""Naive max-pool backward (kernel 3, stride 1, padding 1) that tracks the argmax by hand.

Mistake (max-ties-last): the scan keeps a candidate when value >= best, so the last
maximum in row-major window order gets dy instead of PyTorch's first.
"""

import numpy as np

KIND = "maxpool2d"
CONVENTION = "plain"
FUNCTION = "maxpool2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 2, 5, 5), kernel=3, stride=1, padding=1)
MISTAKE = "max-ties-last"


def maxpool2d_backward(dy, x, kernel_size, stride, padding):
    N, C, H, W = x.shape
    KH, KW = kernel_size
    SH, SW = stride
    PH, PW = padding
    _, _, Ho, Wo = dy.shape

    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    best, arg = -np.inf, None
                    for r in range(KH):
                        for s in range(KW):
                            h, w = i * SH - PH + r, j * SW - PW + s
                            if 0 <= h < H and 0 <= w < W and x[n, c, h, w] >= best:
                                best, arg = x[n, c, h, w], (h, w)
                    dx[n, c, arg[0], arg[1]] += dy[n, c, i, j]
    return dx
