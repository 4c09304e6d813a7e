"""One axis of adaptive pooling: its windows' bounds, their taps as rows, strided views or a 0/1 matrix.

PyTorch's adaptive windows along an axis of ``L`` inputs pooled to ``O``
outputs: window ``i`` reads ``floor(i*L/O) <= a < ceil((i+1)*L/O)``. The
helpers here work on one spatial axis of an (N, C, *spatial) array, for
:mod:`symconv.reference.adaptive`, which pools a box one axis at a time.
"""

from __future__ import annotations

import math

import numpy as np


def _bounds(size, out):
    """Starts and (exclusive) ends of the ``out`` windows of an axis of ``size``."""
    i = np.arange(out)
    return i * size // out, -(-(i + 1) * size // out)


def _on_axis(vector, axis, ndim):
    """A 1-D array laid along spatial ``axis`` of an ``ndim``-D array, to broadcast against it."""
    shape = [1] * ndim
    shape[2 + axis] = len(vector)
    return vector.reshape(shape)


def _to_front(x, axis):
    """``x`` (N, C, *spatial) with spatial ``axis`` first, as a contiguous 2-D ``(L, rest)`` array."""
    moved = np.moveaxis(x, 2 + axis, 0)
    return np.ascontiguousarray(moved).reshape(moved.shape[0], -1), moved.shape[1:]


def _from_front(rows, rest, axis):
    """``(O, rest)`` rows back in place: (N, C, ..., O, ...) (a view)."""
    return np.moveaxis(rows.reshape(rows.shape[:1] + rest), 0, 2 + axis)


def _taps(starts, ends):
    """``(t, windows)`` for every tap after the first: the windows at least ``t + 1`` long (None: all)."""
    lengths = ends - starts
    for t in range(1, int(lengths.max())):
        long_enough = np.nonzero(lengths > t)[0]
        yield t, None if long_enough.size == len(starts) else long_enough


def _even(x, axis, out):
    """``x`` with spatial ``axis`` split into (window, tap), when the windows tile it evenly (a view); else None."""
    size = x.shape[2 + axis]
    if size % out:
        return None
    return x.reshape(x.shape[:2 + axis] + (out, size // out) + x.shape[3 + axis:])


def _strided_taps(x, axis, starts, ends):
    """Tap ``t`` of every window as one strided view of ``x``, when the windows along ``axis`` are alike
    (one length, evenly spaced starts: 13 -> 6 is kernel 3, stride 2); else None.

    Such an axis needs no gather and no transpose (moving the last axis to the
    front cost more than the pooling itself on small maps).
    """
    lengths = ends - starts
    step = int(starts[1] - starts[0]) if len(starts) > 1 else 1
    if (lengths != lengths[0]).any() or (np.diff(starts) != step).any():
        return None
    where = [slice(None)] * x.ndim
    taps = []
    for t in range(int(lengths[0])):
        where[2 + axis] = slice(int(starts[0]) + t, int(starts[-1]) + t + 1, step)
        taps.append(x[tuple(where)])
    return taps


def _pool_axis(x, axis, out, combine):
    """Each window's sum (``combine`` np.add) or maximum (np.maximum) along one spatial axis."""
    split = _even(x, axis, out)
    if split is not None:  # global pooling among them: no windows overlap
        return combine.reduce(split, axis=3 + axis)
    starts, ends = _bounds(x.shape[2 + axis], out)
    taps = _strided_taps(x, axis, starts, ends)
    if taps is not None:
        total = taps[0].copy()
        for tap in taps[1:]:
            combine(total, tap, out=total)
        return total
    rows, rest = _to_front(x, axis)
    total = rows[starts]
    for t, windows in _taps(starts, ends):
        if windows is None:
            combine(total, rows[starts + t], out=total)
        else:
            total[windows] = combine(total[windows], rows[starts[windows] + t])
    return _from_front(total, rest, axis)


#: An axis of L inputs and O overlapping windows is summed or spread by a product with its (L, O) 0/1
#: window matrix when L * O is at most this: one matrix product instead of a pass per tap, at a cost
#: that grows as L * O. (8,256,13,13) to 6x6, forward + backward: about 2.0 ms -> 1.3 ms (2026-12-07).
_MATRIX_MAX = 1024


def _by_matrix(size, out):
    return size % out != 0 and size * out <= _MATRIX_MAX


def _window_matrix(size, out, dtype):
    """``(size, out)``: 1 where input position ``a`` lies in window ``i`` (Python ints for exact arrays)."""
    starts, ends = _bounds(size, out)
    inside = (np.arange(size)[:, None] >= starts) & (np.arange(size)[:, None] < ends)
    return inside.astype(object) * 1 if dtype == object else inside.astype(dtype)


def _times_on_axis(matrix, x, axis):
    """``matrix`` (P, Q) applied along spatial ``axis`` of ``x`` (of size Q), which becomes of size P."""
    k = 2 + axis
    if k == x.ndim - 1:
        return (x.reshape(-1, x.shape[-1]) @ matrix.T).reshape(x.shape[:-1] + matrix.shape[:1])
    rows = np.matmul(matrix, x.reshape(math.prod(x.shape[:k]), x.shape[k], -1))
    return rows.reshape(x.shape[:k] + matrix.shape[:1] + x.shape[k + 1:])
