"""cs231n-style naive max-pool backward, 2x3 windows with stride 2 (overlapping along W).

Mistake (max-ties-split): tied maxima of a window share dy equally
(mask * dout / mask.sum()); PyTorch gives all of it to the first maximum.
"""

import numpy as np

KIND = "maxpool2d"
CONVENTION = "cs231n"
FUNCTION = "max_pool_backward_naive"
FORWARD = None
OPTIONS = dict(input=(2, 2, 6, 7), kernel=(2, 3), stride=2)
MISTAKE = "max-ties-split"


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride

    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    window = x[n, c, hs:hs + ph, ws:ws + pw]
                    mask = window == np.max(window)
                    dx[n, c, hs:hs + ph, ws:ws + pw] += mask * dout[n, c, i, j] / np.sum(mask)
    return dx
