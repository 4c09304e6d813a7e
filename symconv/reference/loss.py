"""Reference losses in NumPy: PyTorch's ``mse_loss`` and ``cross_entropy``, per term and their gradient.

Each loss is written as the sum of its unreduced terms (PyTorch's
``reduction='none'``) divided by ``divisor`` (1 for ``sum``; for ``mean``
the element count for mse, the batch size for cross-entropy). mse works on
float arrays and on object arrays of ``fractions.Fraction`` (exact);
cross-entropy, whose softmax is not rational, on floats.

>>> import numpy as np
>>> y, t = np.array([[0.0, 0.0]]), np.array([1])
>>> cross_entropy_terms(y, t).round(6), cross_entropy_backward(y, t, 1)
(array([0.693147]), array([[ 0.5, -0.5]]))
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def mse_terms(y, t):
    """``(y - t)^2`` element by element."""
    difference = np.asarray(y) - np.asarray(t)
    return difference * difference


def mse_backward(y, t, divisor=1):
    """Gradient of ``sum((y - t)^2) / divisor`` with respect to y: ``2 (y - t) / divisor``."""
    difference = np.asarray(y) - np.asarray(t)
    if difference.dtype == object:  # exact: ints and Fractions stay exact (int / int would be a float)
        return difference * Fraction(2, divisor)
    return difference * (2.0 / divisor)


def _labels(t, y):
    labels = np.asarray(t).astype(np.int64)
    if labels.shape != y.shape[:1] or labels.size and (labels.min() < 0 or labels.max() >= y.shape[1]):
        raise ValueError(f"labels of shape {labels.shape} in 0..{y.shape[1] - 1} expected for logits {y.shape}")
    return labels


def cross_entropy_terms(y, t):
    """``log sum_k exp(y[n, k]) - y[n, t[n]]`` for every sample n.

    Written as ``(m - y[n, t[n]]) + log1p(sum_{k != top} exp(y[n, k] - m))``
    with ``m`` the row's largest logit at ``top``: no overflow, and a sample
    predicted right with a large margin keeps its small loss to full relative
    precision (``log(sum) - y[t]`` would cancel it away).
    """
    y = np.asarray(y, dtype=float)
    labels = _labels(t, y)
    rows = np.arange(y.shape[0])
    top = np.argmax(y, axis=1)
    shifted = np.exp(y - y[rows, top][:, None])
    shifted[rows, top] = 0.0
    return (y[rows, top] - y[rows, labels]) + np.log1p(shifted.sum(axis=1))


def cross_entropy_backward(y, t, divisor=1):
    """Gradient of ``sum_n terms[n] / divisor``: ``(softmax(y[n]) - onehot(t[n])) / divisor``.

    The label's entry ``softmax - 1`` is computed as minus the other classes'
    share, so that it too keeps its relative precision when small.
    """
    y = np.asarray(y, dtype=float)
    labels = _labels(t, y)
    rows = np.arange(y.shape[0])
    shifted = np.exp(y - y.max(axis=1)[:, None])
    total = shifted.sum(axis=1)
    gradient = shifted / total[:, None]
    masked = shifted.copy()
    masked[rows, labels] = 0.0  # summed apart: total - shifted[label] would cancel
    gradient[rows, labels] = -masked.sum(axis=1) / total
    return gradient / divisor
