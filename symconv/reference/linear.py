"""Reference fully connected layer and flatten in NumPy, PyTorch's layouts.

``linear``: ``y = x w^T + b`` with x ``(N, IN)``, w ``(OUT, IN)`` as
``torch.nn.functional.linear``; ``flatten``: ``(N, C, ...) -> (N, C*...)``
in row-major order, as ``torch.flatten(x, 1)``. Both work on float arrays and
on object arrays of ``fractions.Fraction`` (exact).

>>> import numpy as np
>>> x, w = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [3.0, -1.0]])
>>> linear_forward(x, w, np.array([0.5, 0.0]))
array([[1.5, 1. ]])
>>> [g.tolist() for g in linear_backward(np.array([[1.0, 1.0]]), x, w)]
[[[4.0, -1.0]], [[1.0, 2.0], [1.0, 2.0]], [1.0, 1.0]]
"""

from __future__ import annotations

import numpy as np


def _check(x, w):
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"linear: expected x (N, IN) and w (OUT, IN), got {x.shape} and {w.shape}")


def linear_forward(x, w, b=None):
    """``x @ w.T + b``."""
    x, w = np.asarray(x), np.asarray(w)
    _check(x, w)
    y = np.matmul(x, w.T)
    return y if b is None else y + np.asarray(b)[None, :]


def linear_backward(dy, x, w):
    """``(dx, dw, db)``: the gradients of ``sum(dy * linear_forward(x, w, b))``."""
    dy, x, w = np.asarray(dy), np.asarray(x), np.asarray(w)
    _check(x, w)
    return np.matmul(dy, w), np.matmul(dy.T, x), dy.sum(axis=0)


def flatten_forward(x):
    """Every axis after the first joined, row-major (a copy, never a view of x)."""
    x = np.asarray(x)
    return x.reshape(x.shape[0], -1).copy()


def flatten_backward(dy, input_shape):
    """The gradient of ``sum(dy * flatten_forward(x))``: dy put back in x's shape (a copy)."""
    return np.asarray(dy).reshape(tuple(input_shape)).copy()
