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

How it is computed. A window is a box, so everything goes one axis at a
time, with that axis moved to the front: the array becomes ``(L, rest)``,
and window ``i``'s tap ``t`` is the whole row ``starts[i] + t``, so every
step gathers or adds long contiguous rows (NumPy is several times slower
along a short last axis). The forward sums (or maximizes) the rows of each
window, tap by tap, over the windows long enough for that tap. The
average's backward gives each input row the share of the one or two windows
that hold it. The max backward finds the first maximum axis by axis, the
last axis first, keeping each pass's winning position, then follows the
choices back to a flat index. The work is cut by channel, on threads for
large float arrays (as the other pooling kernels do).

Shortcuts, each tested against PyTorch with ties and NaNs: global pooling is
one reduction (and one argmax per map); windows that tile an axis evenly
are a reshape; windows of one length at even steps are strided views; a
small axis with overlapping windows is summed and spread by a product with
its 0/1 window matrix; and the max backward over many maps without NaN
gathers every tap of every window at once from the maps transposed to
``(positions, n*c)``.

Only sums, comparisons and divisions by integers touch the values, so arrays
of :class:`fractions.Fraction` (``dtype=object``) pool exactly:

>>> from fractions import Fraction
>>> x = np.array([[[Fraction(1, 3), Fraction(1, 2), Fraction(1, 4)]]], dtype=object)
>>> adaptive_avg_pool_forward(x, 2)
array([[[Fraction(5, 12), Fraction(3, 8)]]], dtype=object)
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from symconv.reference.adaptive_axes import (
    _bounds,
    _by_matrix,
    _from_front,
    _on_axis,
    _pool_axis,
    _strided_taps,
    _taps,
    _times_on_axis,
    _to_front,
    _window_matrix,
)
from symconv.reference.args import per_axis
from symconv.reference.threads import _one_blas_thread
from symconv.reference.windows import CHUNK_BYTES, PARALLEL_ELEMENTS, by_channel

__all__ = ["adaptive_avg_pool_forward", "adaptive_avg_pool_backward",
           "adaptive_max_pool_forward", "adaptive_max_pool_backward"]


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


def _by_channel(pool, *arrays, output_like=None):
    """:func:`~symconv.reference.windows.by_channel` for arrays large enough to gain from its threads
    and chunks; a smaller job is one call, whose result is returned as it is (no copy into a fresh
    buffer, whose page faults alone cost more than a small pool)."""
    largest = max(a.nbytes for a in arrays + (() if output_like is None else (output_like,)))
    if largest <= CHUNK_BYTES and all(a.size < PARALLEL_ELEMENTS or a.dtype.kind != "f" for a in arrays):
        with _one_blas_thread():  # an average's matrix products, as in by_channel's parts
            return pool(*arrays)
    return by_channel(pool, *arrays, output_like=output_like)


def _check_dy(dy, x, out):
    expected = x.shape[:2] + out
    if dy.shape != expected:
        raise ValueError(f"dy: expected shape {expected}, got {dy.shape}")


def _reduce(ufunc, x, out):
    """Each window's reduction by ``ufunc`` (np.add or np.maximum), one axis at a time."""
    if all(o == 1 for o in out):  # global pooling: one reduction
        return ufunc.reduce(x, axis=tuple(range(2, x.ndim)), keepdims=True)
    for axis in range(len(out)):
        size = x.shape[2 + axis]
        if ufunc is np.add and _by_matrix(size, out[axis]):
            x = _times_on_axis(_window_matrix(size, out[axis], x.dtype).T, x, axis)
        else:
            x = _pool_axis(x, axis, out[axis], ufunc)
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
    return _by_channel(lambda x: _reduce(np.add, x, out) / counts, x)


def adaptive_avg_pool_backward(dy, x, output_size):
    """Gradient ``dx`` of ``L = sum(dy * adaptive_avg_pool_forward(x, output_size))``.

    >>> adaptive_avg_pool_backward(np.array([[[2.0, 3.0, 4.0]]]), np.zeros((1, 1, 5)), 3)
    array([[[1., 2., 1., 3., 2.]]])
    """
    dy, (x, out) = np.asarray(dy), _sizes(x, output_size)
    _check_dy(dy, x, out)
    counts = _counts(x.shape, out, dy.dtype == object)
    return _by_channel(lambda dy: _spread(dy / counts, x.shape[2:], out), dy, output_like=x)


def _spread(share, size, out):
    """Add each window's ``share`` to every input of the window, one axis at a time.

    Along an axis (``O <= L``) an input lies in one window or in two
    neighbours, ``first[a]`` and ``last[a]``: its part is the first's share,
    plus the last's where they differ.
    """
    if all(o == 1 for o in out):  # global pooling: the share everywhere
        return np.broadcast_to(share, share.shape[:2] + tuple(size)).copy()
    for axis in range(len(out)):
        if size[axis] % out[axis] == 0:  # even windows, no overlap: each share repeated over its own
            share = np.repeat(share, size[axis] // out[axis], axis=2 + axis)
            continue
        if _by_matrix(size[axis], out[axis]):  # small and overlapping: one product with the window matrix
            share = _times_on_axis(_window_matrix(size[axis], out[axis], share.dtype), share, axis)
            continue
        rows, rest = _to_front(share, axis)
        starts, ends = _bounds(size[axis], out[axis])
        positions = np.arange(size[axis])
        first = np.searchsorted(ends, positions, side="right")  # the first window ending after a
        last = np.searchsorted(starts, positions, side="right") - 1  # the last window starting at or before a
        partial = rows[first]
        twice = np.nonzero(last != first)[0]
        if twice.size:
            partial[twice] += rows[last[twice]]
        share = _from_front(partial, rest, axis)
    return share


def adaptive_max_pool_forward(x, output_size):
    """Adaptive max pooling of ``x`` (N, C, *spatial) to ``output_size``; NaN wins its window.

    >>> adaptive_max_pool_forward(np.array([[[1.0, 5.0, 2.0, 0.0, 3.0]]]), 3)
    array([[[5., 5., 3.]]])
    """
    x, out = _sizes(x, output_size)
    return _by_channel(lambda x: _reduce(np.maximum, x, out), x)


def adaptive_max_pool_backward(dy, x, output_size):
    """Gradient ``dx`` of ``L = sum(dy * adaptive_max_pool_forward(x, output_size))``.

    Each ``dy`` entry goes to its window's first maximum in row-major order.

    >>> x = np.array([[[2.0, 2.0, 1.0, 2.0, 2.0]]])
    >>> adaptive_max_pool_backward(np.array([[[10.0, 20.0, 30.0]]]), x, 3)
    array([[[10., 20.,  0., 30.,  0.]]])
    """
    dy, (x, out) = np.asarray(dy), _sizes(x, output_size)
    _check_dy(dy, x, out)
    return _by_channel(lambda dy, x: _max_backward(dy, x, out), dy, x)


def _first_along(x, axis, out, nan_wins):
    """Each window's maximum along one spatial axis and the position (along it) of its first maximum."""
    starts, ends = _bounds(x.shape[2 + axis], out)
    taps = _strided_taps(x, axis, starts, ends)
    if taps is not None:
        best = taps[0].copy()
        tap = np.zeros(best.shape, dtype=np.min_scalar_type(len(taps)))
        for t, values in enumerate(taps[1:], start=1):
            takes = np.greater(values, best)
            if nan_wins:
                takes |= np.isnan(values)
            np.maximum(tap, np.multiply(takes, t, dtype=tap.dtype), out=tap)
            np.maximum(best, values, out=best)
        return best, tap + _on_axis(starts, axis, x.ndim)
    rows, rest = _to_front(x, axis)
    best = rows[starts]
    # The winning tap of each window. A later tap takes over only where it is
    # strictly greater (or a NaN), and taps come in increasing order, so
    # ``maximum(tap, takes * t)`` records it (np.where or a masked copy is
    # several times slower).
    tap = np.zeros(best.shape, dtype=np.min_scalar_type(int((ends - starts).max())))
    for t, windows in _taps(starts, ends):
        every = windows is None
        values, current = (rows[starts + t], best) if every else (rows[starts[windows] + t], best[windows])
        takes = np.greater(values, current)
        if nan_wins:
            takes |= np.isnan(values)
        if every:
            np.maximum(tap, np.multiply(takes, t, dtype=tap.dtype), out=tap)
            np.maximum(best, values, out=best)
        else:
            tap[windows] = np.maximum(tap[windows], np.multiply(takes, t, dtype=tap.dtype))
            best[windows] = np.maximum(current, values)
    position = tap + starts[:, None]
    return _from_front(best, rest, axis), _from_front(position, rest, axis)


def _first_maxima(x, out):
    """Flat index into ``x`` of every window's first maximum in row-major order (the last NaN, if any).

    The window is a box, so its first maximum is found one axis at a time,
    the last axis first (as :mod:`symconv.reference.maxpool` does): along W
    each row's first maximum, then along H the first row whose maximum is
    the window's. Each pass keeps the winner's position along its axis.
    """
    nd = len(out)
    nan_wins = x.dtype.kind == "f" and bool(np.isnan(x).any())
    if all(o == 1 for o in out):  # global pooling: one window per (n, c), its whole map
        return _global_first_maxima(x, nan_wins)
    if not nan_wins and x.dtype.kind == "f" and math.prod(out) * math.prod(x.shape[:2]) >= _GATHER_MIN:
        return _gathered_first_maxima(x, out)
    positions, partial = [None] * nd, x
    for axis in reversed(range(nd)):
        partial, positions[axis] = _first_along(partial, axis, out[axis], nan_wins)
    # Follow the choices from the first axis to the last: ``index`` is the
    # flat position over (n*c, the axes chosen so far); the pass along a
    # later axis ran over the outputs of the axes after it, so its choice for
    # each window is at (index, this axis's outputs on) in its own array.
    lead = math.prod(x.shape[:2])
    index = np.arange(lead).reshape(x.shape[:2] + (1,) * nd)
    for axis in range(nd):
        later = math.prod(out[axis:])
        flat = index * later + np.arange(later).reshape(out[axis:])
        index = index * x.shape[2 + axis] + positions[axis].reshape(-1)[flat]
    return index


#: Windows times maps from which the gathered search pays for its transpose: about even from 2,000 to
#: 4,000; (8,256,13,13) to 6x6, 73,728, took the backward from 3.6 ms to 2.6 ms (2026-12-07).
_GATHER_MIN = 4096


def _window_taps(spatial, out):
    """``(windows, taps)``: each window's flat spatial positions in row-major order, a short window's
    list filled up with its last position (which, seen again, is never strictly greater than the maximum)."""
    flat = np.zeros((1,) * (2 * len(out)), dtype=np.int64)
    for axis, (size, o) in enumerate(zip(spatial, out)):
        starts, ends = _bounds(size, o)
        taps = np.minimum(starts[:, None] + np.arange(int((ends - starts).max())), (ends - 1)[:, None])
        shape = [1] * (2 * len(out))
        shape[axis], shape[len(out) + axis] = taps.shape
        flat = flat * size + taps.reshape(shape)
    return flat.reshape(math.prod(out), -1)


def _gathered_first_maxima(x, out):
    """:func:`_first_maxima` without NaNs, all windows at once: the maps transposed to ``(positions, n*c)``,
    every tap of every window one gather of long rows (small maps cost the axis by axis passes a NumPy
    call per short row)."""
    maps = math.prod(x.shape[:2])
    size = math.prod(x.shape[2:])
    rows = np.ascontiguousarray(x.reshape(maps, size).T)
    table = _window_taps(x.shape[2:], out)
    best = rows[table[:, 0]]
    tap = np.zeros(best.shape, dtype=np.min_scalar_type(table.shape[1]))
    for t in range(1, table.shape[1]):
        values = rows[table[:, t]]
        np.maximum(tap, np.multiply(np.greater(values, best), t, dtype=tap.dtype), out=tap)
        np.maximum(best, values, out=best)
    winner = np.take_along_axis(table, tap.astype(np.intp), axis=1)  # (windows, maps): a spatial position
    return (np.arange(maps) * size + winner).T.reshape(x.shape[:2] + tuple(out))


def _global_first_maxima(x, nan_wins):
    """Flat index of each (n, c) map's first maximum (its last NaN, if it holds one)."""
    rows = x.reshape(math.prod(x.shape[:2]), -1)
    chosen = np.argmax(rows, axis=1)  # the first maximum; on a NaN, the first NaN
    if nan_wins:
        nan = np.isnan(rows)
        has = nan.any(axis=1)
        last_nan = rows.shape[1] - 1 - np.argmax(nan[:, ::-1], axis=1)
        chosen = np.where(has, last_nan, chosen)
    return np.arange(rows.shape[0]) * rows.shape[1] + chosen


def _max_backward(dy, x, out):
    index = _first_maxima(x, out).ravel()
    dtype = np.result_type(dy, x)
    if dtype == np.float64:  # overlapping windows may share a maximum: bincount adds them up
        return np.bincount(index, weights=dy.ravel(), minlength=x.size).reshape(x.shape)
    dx = np.zeros(x.size, dtype=dtype)
    np.add.at(dx, index, dy.ravel())
    return dx.reshape(x.shape)
