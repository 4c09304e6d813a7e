"""Independent NumPy reference for adaptive average and max pooling (1-D, 2-D, 3-D).

It follows PyTorch's ``adaptive_avg_pool1d/2d/3d`` and ``adaptive_max_pool1d/2d``
and shares no code with the fixed-window pools: along an axis of input size
``L`` pooled to ``O`` outputs, output ``i`` reads the input positions
``floor(i*L/O) <= a < ceil((i+1)*L/O)`` (windows that overlap by one where
``O`` does not divide ``L``); a window is the box of its per-axis ranges.
``output_size`` is an int or one int per spatial axis, each from 1 to the
input's size.

* Average: each window's sum divided by its element count. The backward
  spreads ``dy / count`` evenly over the window and adds up the overlaps.
* Max: each window's largest input; its gradient goes to the *first*
  maximum in row-major order of the window (PyTorch's CPU rule for ties). A
  NaN is its window's maximum, and of several the last in scan order takes
  the gradient, as PyTorch's CPU kernel does (``val > max || isnan(val)``).

How it is computed. The forward reduces one axis at a time with
``np.add.reduceat`` / ``np.maximum.reduceat`` over the interleaved window
bounds ``[s0, e0, s1, e1, ..., s_last]`` (the even results are the window
reductions, and no bound reaches past the array). The max backward scans
every window's taps in row-major order, as PyTorch's kernel does, over all
windows at once: a tap beyond a shorter window's end is masked out. The work
is cut by channel, on threads for large float arrays (as the other pooling
kernels do).

Only sums, comparisons and divisions by integers touch the values, so arrays
of :class:`fractions.Fraction` (``dtype=object``) pool exactly:

>>> from fractions import Fraction
>>> x = np.array([[[Fraction(1, 3), Fraction(1, 2), Fraction(1, 4)]]], dtype=object)
>>> adaptive_avg_pool_forward(x, 2)
array([[[Fraction(5, 12), Fraction(3, 8)]]], dtype=object)
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

from symconv.reference.args import per_axis
from symconv.reference.windows import by_channel

__all__ = ["adaptive_avg_pool_forward", "adaptive_avg_pool_backward",
           "adaptive_max_pool_forward", "adaptive_max_pool_backward"]


def _bounds(size, out):
    """Starts and (exclusive) ends of the ``out`` windows of an axis of ``size``."""
    i = np.arange(out)
    return i * size // out, -(-(i + 1) * size // out)


def _sizes(x, output_size):
    x = np.asarray(x)
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"x: expected a 3-D (N, C, L), 4-D (N, C, H, W) or 5-D (N, C, D, H, W) array, "
                         f"got shape {x.shape}")
    out = per_axis("output_size", output_size, x.ndim - 2, 1)
    for axis, (size, o) in enumerate(zip(x.shape[2:], out)):
        if o > size:
            raise ValueError(f"output_size: at most the input size {size} along spatial axis {axis}, got {o}")
    return x, out


def _check_dy(dy, x, out):
    expected = x.shape[:2] + out
    if dy.shape != expected:
        raise ValueError(f"dy: expected shape {expected}, got {dy.shape}")


def _reduce(ufunc, x, out):
    """Each window's reduction by ``ufunc`` (np.add or np.maximum), one axis at a time."""
    for axis in range(len(out)):
        starts, ends = _bounds(x.shape[2 + axis], out[axis])
        bounds = np.empty(2 * len(starts) - 1, dtype=np.intp)
        bounds[0::2], bounds[1::2] = starts, ends[:-1]
        x = ufunc.reduceat(x, bounds, axis=2 + axis)[(Ellipsis, slice(None, None, 2)) + (slice(None),) * (len(out) - 1 - axis)]
    return x


def _counts(x_shape, out, exact):
    """Every window's element count, shaped like the spatial output (Fractions for exact arrays)."""
    counts = np.ones((), dtype=np.int64)
    for size, o in zip(x_shape[2:], out):
        starts, ends = _bounds(size, o)
        counts = np.multiply.outer(counts, ends - starts)
    return np.frompyfunc(Fraction, 1, 1)(counts.astype(object)) if exact else counts


def adaptive_avg_pool_forward(x, output_size):
    """Adaptive average pooling of ``x`` (N, C, *spatial) to ``output_size``.

    >>> adaptive_avg_pool_forward(np.arange(5.0).reshape(1, 1, 5), 3)
    array([[[0.5, 2. , 3.5]]])
    """
    x, out = _sizes(x, output_size)
    counts = _counts(x.shape, out, x.dtype == object)
    return by_channel(lambda x: _reduce(np.add, x, out) / counts, x)


def adaptive_avg_pool_backward(dy, x, output_size):
    """Gradient ``dx`` of ``L = sum(dy * adaptive_avg_pool_forward(x, output_size))``.

    >>> adaptive_avg_pool_backward(np.array([[[2.0, 3.0, 4.0]]]), np.zeros((1, 1, 5)), 3)
    array([[[1., 2., 1., 3., 2.]]])
    """
    dy, (x, out) = np.asarray(dy), _sizes(x, output_size)
    _check_dy(dy, x, out)
    counts = _counts(x.shape, out, dy.dtype == object)
    return by_channel(lambda dy: _spread(dy / counts, x.shape[2:], out), dy, output_like=x)


def _spread(share, size, out):
    """Add each window's ``share`` to every input of the window, one axis at a time."""
    for axis in range(len(out)):
        starts, ends = _bounds(size[axis], out[axis])
        shape = share.shape[:2 + axis] + (size[axis],) + share.shape[3 + axis:]
        # np.zeros: for object arrays a plain Python 0, which adds exactly.
        partial = np.zeros(shape, dtype=share.dtype)
        # Tap t of every window long enough: positions starts + t, all distinct
        # (starts rise by at least 1, as O <= L), so a fancy-indexed += adds each once.
        for t in range(int((ends - starts).max())):
            windows = np.nonzero(ends - starts > t)[0]
            at = (slice(None),) * (2 + axis)
            partial[at + (starts[windows] + t,)] += share[at + (windows,)]
        share = partial
    return share


def adaptive_max_pool_forward(x, output_size):
    """Adaptive max pooling of ``x`` (N, C, *spatial) to ``output_size``; NaN wins its window.

    >>> adaptive_max_pool_forward(np.array([[[1.0, 5.0, 2.0, 0.0, 3.0]]]), 3)
    array([[[5., 5., 3.]]])
    """
    x, out = _sizes(x, output_size)
    return by_channel(lambda x: _reduce(np.maximum, x, out), x)


def adaptive_max_pool_backward(dy, x, output_size):
    """Gradient ``dx`` of ``L = sum(dy * adaptive_max_pool_forward(x, output_size))``.

    Each ``dy`` entry goes to its window's first maximum in row-major order.

    >>> x = np.array([[[2.0, 2.0, 1.0, 2.0, 2.0]]])
    >>> adaptive_max_pool_backward(np.array([[[10.0, 20.0, 30.0]]]), x, 3)
    array([[[10., 20.,  0., 30.,  0.]]])
    """
    dy, (x, out) = np.asarray(dy), _sizes(x, output_size)
    _check_dy(dy, x, out)
    return by_channel(lambda dy, x: _max_backward(dy, x, out), dy, x)


def _max_backward(dy, x, out):
    nd = len(out)
    lead = math.prod(x.shape[:2])
    flat_x = x.reshape(lead, -1)
    axes = [_bounds(size, o) for size, o in zip(x.shape[2:], out)]
    longest = [int((ends - starts).max()) for starts, ends in axes]
    nan_wins = x.dtype.kind == "f" and bool(np.isnan(x).any())
    strides = [math.prod(x.shape[3 + axis:]) for axis in range(nd)]
    rows = np.arange(lead).reshape((lead,) + (1,) * nd)
    best = chosen = None
    for tap in itertools.product(*(range(k) for k in longest)):
        # Per axis: each window's position at this tap, and whether the window reaches it.
        where, inside = np.zeros((), dtype=np.intp), np.ones((), dtype=bool)
        for axis, ((starts, ends), t) in enumerate(zip(axes, tap)):
            position = np.minimum(starts + t, ends - 1)
            where = np.add.outer(where, position * strides[axis])
            inside = np.logical_and.outer(inside, starts + t < ends)
        values = flat_x[rows, where]
        if best is None:  # the first tap lands in every window
            best, chosen = values.copy(), np.broadcast_to(where, values.shape).copy()
            continue
        takes = values > best
        if nan_wins:
            takes |= np.isnan(values)
        takes &= inside
        best = np.where(takes, values, best)
        chosen = np.where(takes, where, chosen)
    index = (chosen + rows * flat_x.shape[1]).ravel()
    dtype = np.result_type(dy, x)
    if dtype == np.float64:  # overlapping windows may share a maximum: bincount adds them up
        return np.bincount(index, weights=dy.ravel(), minlength=x.size).reshape(x.shape)
    dx = np.zeros(x.size, dtype=dtype)
    np.add.at(dx, index, dy.ravel())
    return dx.reshape(x.shape)
