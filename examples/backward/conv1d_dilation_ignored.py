"""conv1d backward without bias, loop over output positions and kernel taps (dilation 2).

Mistake (dilation-ignored): tap k of window i is read at x_pad[..., i*S + k] instead
of x_pad[..., i*S + k*D], in dx and in dw.
"""

import numpy as np

KIND = "conv1d"
CONVENTION = "plain"
FUNCTION = "conv1d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 3, 10), weight=(4, 3, 3), stride=1, padding=2, dilation=2, bias=False)
MISTAKE = "dilation-ignored"


def conv1d_backward(dy, x, w, stride, padding, dilation):
    N, C, L = x.shape
    F, _, K = w.shape
    Lo = dy.shape[2]
    (S,), (P,), (D,) = stride, padding, dilation

    x_pad = np.pad(x, ((0, 0), (0, 0), (P, P)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for i in range(Lo):
        for k in range(K):
            t = i * S + k  # where tap k of window i sits in x_pad
            dw[:, :, k] += dy[:, :, i].T @ x_pad[:, :, t]   # (F, N) @ (N, C)
            dx_pad[:, :, t] += dy[:, :, i] @ w[:, :, k]      # (N, F) @ (F, C)
    return dx_pad[:, :, P:P + L], dw
