"""Reference (leaky) ReLU in NumPy, with PyTorch's choice at 0.

``relu(x) = x if x > 0 else slope * x`` (slope 0 for plain ReLU). At x = 0
PyTorch's backward takes the "else" branch, so the gradient there is
``slope * dy`` (0 for ReLU): strict ``>`` below is that rule. Works on float
arrays and on object arrays of ``fractions.Fraction`` (exact).

>>> import numpy as np
>>> relu_backward(np.array([1.0, 1.0, 1.0]), np.array([-1.0, 0.0, 2.0]))
array([0., 0., 1.])
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def _slope(negative_slope, dtype):
    return Fraction(negative_slope) if dtype == object else float(negative_slope)


def relu_forward(x, negative_slope=0):
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    x = np.asarray(x)
    return np.where(x > 0, x, x * _slope(negative_slope, x.dtype))


def relu_backward(dy, x, negative_slope=0):
    """Gradient of ``sum(dy * relu_forward(x))`` with respect to x."""
    dy, x = np.asarray(dy), np.asarray(x)
    return np.where(x > 0, dy, dy * _slope(negative_slope, dy.dtype))
