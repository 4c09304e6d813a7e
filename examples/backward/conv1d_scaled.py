"""im2col-style conv1d backward (stride 2, padding 1) for a batch of 3.

Mistake (scaled): dw and db are divided by the batch size N (the mean over the
batch instead of the sum), so both are 1/3 of the true gradient. dx is right.
"""

import numpy as np

KIND = "conv1d"
CONVENTION = "plain"
FUNCTION = "conv1d_backward"
FORWARD = None
OPTIONS = dict(input=(3, 2, 9), weight=(4, 2, 3), stride=2, padding=1)
MISTAKE = "scaled"


def conv1d_backward(dy, x, w, b, stride, padding):
    N, C, L = x.shape
    F, _, K = w.shape
    Lo = dy.shape[2]
    (S,), (P,) = stride, padding

    x_pad = np.pad(x, ((0, 0), (0, 0), (P, P)))
    # cols[n, c, k, l] = x_pad[n, c, l*S + k]
    cols = np.stack([x_pad[:, :, k:k + S * (Lo - 1) + 1:S] for k in range(K)], axis=2)

    dw = np.einsum("nfl,nckl->fck", dy, cols) / N  # average over the batch
    db = dy.sum(axis=(0, 2)) / N

    dcols = np.einsum("nfl,fck->nckl", dy, w)
    dx_pad = np.zeros_like(x_pad)
    for k in range(K):
        dx_pad[:, :, k:k + S * (Lo - 1) + 1:S] += dcols[:, :, k]
    return dx_pad[:, :, P:P + L], dw, db
