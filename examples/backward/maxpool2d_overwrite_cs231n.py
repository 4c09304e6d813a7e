"""cs231n-style naive max pool, forward and backward, 3x3 windows with stride 2 (overlapping).

Mistake (overwrite-not-accumulate): the backward assigns dx[n, c, window] = mask * dout
instead of adding, so a later window's zeros erase the gradient an earlier window put on
a shared position. The mask itself picks the first maximum, as PyTorch does.
"""

import numpy as np

KIND = "maxpool2d"
CONVENTION = "cs231n"
FUNCTION = "max_pool_backward_naive"
FORWARD = "max_pool_forward_naive"
OPTIONS = dict(input=(2, 2, 7, 7), kernel=3, stride=2)
MISTAKE = "overwrite-not-accumulate"


def max_pool_forward_naive(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride

    out = np.zeros((N, C, H_out, W_out))
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    out[n, c, i, j] = np.max(x[n, c, hs:hs + ph, ws:ws + pw])
    cache = (x, pool_param)
    return out, cache


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    _, _, H_out, W_out = dout.shape

    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    window = x[n, c, hs:hs + ph, ws:ws + pw]
                    mask = np.zeros_like(window)
                    mask[np.unravel_index(np.argmax(window), window.shape)] = 1
                    dx[n, c, hs:hs + ph, ws:ws + pw] = mask * dout[n, c, i, j]
    return dx
