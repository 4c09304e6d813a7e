"""Reference batch normalization in training mode, in NumPy (float64).

As ``torch.nn.functional.batch_norm(x, None, None, w, b, training=True,
eps=eps)``: per channel (axis 1) the batch mean and the biased variance over
every other axis, ``xhat = (x - mean) / sqrt(var + eps)``, ``y = w xhat + b``.

The backward is written as a computational graph is walked back, node by
node (xhat, then var, then mean, then x), and not in the compact form the
symbolic derivation prints, so the two share nothing but the definition.

>>> import numpy as np
>>> x = np.array([[1.0], [3.0]])
>>> batchnorm_forward(x, np.array([2.0]), np.array([1.0]), 0)["y"].ravel().tolist()
[-1.0, 3.0]
"""

from __future__ import annotations

import numpy as np


def _axes(x):
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected x (N, C, ...), got shape {x.shape}")
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    """A channel vector shaped to broadcast along x's axis 1."""
    return np.asarray(v, dtype=float).reshape((1, -1) + (1,) * (x.ndim - 2))


def batchnorm_forward(x, w, b, eps):
    """``{"mean", "var", "xhat", "y"}``: the batch statistics (shape C), the normalized input and y."""
    x = np.asarray(x, dtype=float)
    axes = _axes(x)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + float(eps))
    y = _per_channel(w, x) * xhat + _per_channel(b, x)
    return {"mean": mean.reshape(-1), "var": var.reshape(-1), "xhat": xhat, "y": y}


def batchnorm_backward(dy, x, w, eps):
    """``(dx, dw, db)``: the gradients of ``sum(dy * y)``, back through the graph node by node."""
    dy, x = np.asarray(dy, dtype=float), np.asarray(x, dtype=float)
    axes = _axes(x)
    count = x.size // x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred ** 2).mean(axis=axes, keepdims=True)
    root = np.sqrt(var + float(eps))
    xhat = centred / root
    dxhat = dy * _per_channel(w, x)
    # xhat = centred / root: to the centred values, and to var through root.
    dvar = np.sum(dxhat * centred, axis=axes, keepdims=True) * -0.5 / root ** 3
    # var = mean(centred^2): to the centred values; centred = x - mean: to x and to the mean.
    dcentred = dxhat / root + dvar * 2.0 * centred / count
    dmean = -np.sum(dcentred, axis=axes, keepdims=True)
    dx = dcentred + dmean / count
    return dx, np.sum(dy * xhat, axis=axes), np.sum(dy, axis=axes)
