"""Reference sigmoid and tanh in NumPy (float64).

``sigmoid(x) = 1 / (1 + exp(-x))`` is computed as ``exp(-log(1 + exp(-x)))``
(``logaddexp``), which neither overflows nor loses the small values; its
derivative is ``s (1 - s)``, tanh's ``1 - tanh(x)^2``. Neither is rational,
so there is no exact (Fraction) version.

>>> import numpy as np
>>> sigmoid_forward(np.array([0.0])), tanh_backward(np.array([2.0]), np.array([0.0]))
(array([0.5]), array([2.]))
"""

from __future__ import annotations

import numpy as np


def sigmoid_forward(x):
    x = np.asarray(x, dtype=float)
    return np.exp(-np.logaddexp(0.0, -x))


def sigmoid_backward(dy, x):
    """Gradient of ``sum(dy * sigmoid(x))`` with respect to x."""
    s = sigmoid_forward(x)
    return np.asarray(dy, dtype=float) * s * (1.0 - s)


def tanh_forward(x):
    return np.tanh(np.asarray(x, dtype=float))


def tanh_backward(dy, x):
    """Gradient of ``sum(dy * tanh(x))`` with respect to x."""
    t = np.tanh(np.asarray(x, dtype=float))
    return np.asarray(dy, dtype=float) * (1.0 - t * t)
