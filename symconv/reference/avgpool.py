"""Independent NumPy reference for 1-D, 2-D and 3-D average pooling.

Exported by :mod:`symconv.reference`. It follows PyTorch's ``avg_pool1d/2d/3d``
and shares its window geometry (kernel, stride, padding, ``ceil_mode``) with
max pooling (:mod:`symconv.reference.windows`; :mod:`symconv.reference.maxpool` sets out the rules).
Each window's sum is divided by

* ``count_include_pad=True`` (default): the window clipped to the *padded*
  input, ``prod(min(start + K, H + P) - start)`` with ``start = o*S - P``, so
  only a ceil-mode window hanging past the padding is cut short;
* ``count_include_pad=False``: the number of real (unpadded) inputs it covers;
* ``divisor_override``: that integer, whatever the window.

Its backward spreads ``dy / divisor`` evenly over the real inputs of each
window and adds up the overlaps.

How it is computed: the window is a box and its divisor a product over the
axes, so the sums are taken one axis at a time -- ``K_h + K_w`` passes rather
than ``K_h * K_w`` -- along W first, where the kernel taps are long strided
slices (:func:`symconv.reference.maxpool._window_groups`), then along H over the
row sums; the division comes once, at the end, as in PyTorch. The backward
spreads ``dy / divisor`` back the same way, axis by axis in reverse order.
Padding is never materialised: a tap only touches the windows for which it
lands on a real input. The work is cut into chunks of channels, and into one
part per core for large float arrays, as for max pooling.

Only additions and divisions by integers are used, so arrays of
:class:`fractions.Fraction` (``dtype=object``) pool exactly:

>>> from fractions import Fraction
>>> x = np.array([[[Fraction(1, 3), Fraction(1, 2), Fraction(1, 4)]]], dtype=object)
>>> avg_pool_forward(x, 2, stride=1)
array([[[Fraction(5, 12), Fraction(3, 8)]]], dtype=object)
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symconv.reference.args import as_bool, as_int
from symconv.reference.windows import axis_taps, by_channel, check_dy, pool_geometry, window_groups

__all__ = ["avg_pool_forward", "avg_pool_backward"]


def _sum_along(x, geo, axis, out=None):
    """Sum over the kernel taps along ``axis`` that land on real inputs (into ``out`` if given)."""
    shape = x.shape[: 2 + axis] + (geo.out[axis],) + x.shape[3 + axis :]
    total = np.empty(shape, dtype=x.dtype) if out is None else out
    for (dst,), taps in window_groups(x, [total], geo, axis):
        if not taps:  # cannot happen with padding <= K // 2, but costs nothing
            dst[...] = 0  # a plain Python 0 in object arrays, which adds exactly
        elif len(taps) == 1:
            np.copyto(dst, taps[0][1])
        else:  # the first two taps in one call, which saves copying the first
            np.add(taps[0][1], taps[1][1], out=dst)
            for _, values in taps[2:]:
                dst += values
    return total


def _spread(share, geo, out=None):
    """Add each window's ``share`` to every real input it covers.

    Along each axis, input ``i`` is reached by the taps whose offset is
    ``i`` modulo the stride, so the inputs fall into stride phases, each
    reached by its own taps. In every phase the first of its taps (in
    kernel order) writes its windows' shares, the inputs no tap of the
    phase reaches get a zero, and the later taps add theirs: the sums of
    adding every tap onto zeros, bit for bit (``0 + a == a``), without first
    zeroing the whole array and adding onto it.
    """
    nd, spread = len(geo.out), share
    for axis in reversed(range(nd)):
        s, size = geo.stride[axis], geo.size[axis]
        shape = spread.shape[: 2 + axis] + (size,) + spread.shape[3 + axis :]
        partial = out if axis == 0 and out is not None else np.empty(shape, dtype=share.dtype)
        written = set()
        for _, offset, lo, hi in axis_taps(geo, axis):
            # Windows lo..hi-1 read inputs lo*S + offset, ... at stride S.
            first, phase = lo * s + offset, offset % s
            src = slice(first, (hi - 1) * s + offset + 1, s)
            values = spread[_along(axis, nd, slice(lo, hi))]
            if phase in written:
                partial[_along(axis, nd, src)] += values
                continue
            written.add(phase)
            partial[_along(axis, nd, src)] = values
            # np.zeros' zero: for object arrays a plain Python 0, which adds exactly.
            zero = np.zeros((), dtype=share.dtype)[()]
            partial[_along(axis, nd, slice(phase, first, s))] = zero
            partial[_along(axis, nd, slice(hi * s + offset, size, s))] = zero
        for phase in set(range(min(s, size))) - written:  # inputs no window reaches
            partial[_along(axis, nd, slice(phase, size, s))] = 0
        spread = partial
    return spread


def _along(axis, nd, index):
    return (Ellipsis, index) + (slice(None),) * (nd - 1 - axis)


def _divisor(geo, count_include_pad, divisor_override, dtype):
    # For object arrays the divisors are Fractions, so that the quotient is a
    # Fraction even where a window holds only Python ints (int / int would
    # give a float) and never goes through np.int64 (Fraction / np.int64 is
    # not exact either).
    exact = dtype == object
    if divisor_override is not None:
        return Fraction(divisor_override) if exact else divisor_override
    divisor = np.ones((), dtype=np.int64)
    for h, k, s, p, o in zip(geo.size, geo.kernel, geo.stride, geo.padding, geo.out):
        start = np.arange(o) * s - p
        stop = np.minimum(start + k, h + p)
        if not count_include_pad:
            start, stop = np.maximum(start, 0), np.minimum(stop, h)
        divisor = np.multiply.outer(divisor, stop - start)
    return np.frompyfunc(Fraction, 1, 1)(divisor.astype(object)) if exact else divisor


def _avg_options(count_include_pad, divisor_override):
    count_include_pad = as_bool("count_include_pad", count_include_pad)
    if divisor_override is not None:
        divisor_override = as_int("divisor_override", divisor_override)
        if divisor_override == 0:
            raise ValueError("divisor_override: must be a non-zero int, got 0")
    return count_include_pad, divisor_override


def avg_pool_forward(x, kernel, stride=None, padding=0, ceil_mode=False,
                     count_include_pad=True, divisor_override=None):
    """Average-pool ``x`` (N, C, *spatial) over windows of shape ``kernel``.

    >>> x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    >>> avg_pool_forward(x, 2, padding=1)
    array([[[0.5, 2.5, 4.5]]])
    >>> avg_pool_forward(x, 2, padding=1, count_include_pad=False)
    array([[[1. , 2.5, 4.5]]])
    """
    x = np.asarray(x)
    geo = pool_geometry(x, kernel, stride, padding, 1, ceil_mode)
    count_include_pad, divisor_override = _avg_options(count_include_pad, divisor_override)
    divisor = _divisor(geo, count_include_pad, divisor_override, x.dtype)
    if x.dtype.kind in "fcO":  # the sums and their quotients in place, in the result
        return by_channel(lambda x, out: _average(x, geo, divisor, out), x, into=(geo.out, x.dtype))
    return by_channel(lambda x: _average(x, geo, divisor), x)


def _average(x, geo, divisor, out=None):
    total = x
    for axis in reversed(range(len(geo.out))):
        total = _sum_along(total, geo, axis, out if axis == 0 else None)
    if total.dtype.kind in "fcO":  # in place: one large temporary fewer
        return np.divide(total, divisor, out=total)
    return total / divisor


def avg_pool_backward(dy, x, kernel, stride=None, padding=0, ceil_mode=False,
                      count_include_pad=True, divisor_override=None):
    """Gradient ``dx`` of ``L = sum(dy * avg_pool_forward(x, ...))``.

    >>> x = np.zeros((1, 1, 4))
    >>> avg_pool_backward(np.array([[[6.0, 12.0]]]), x, 3, stride=1)
    array([[[2., 6., 6., 4.]]])
    """
    dy, x = np.asarray(dy), np.asarray(x)
    geo = pool_geometry(x, kernel, stride, padding, 1, ceil_mode)
    count_include_pad, divisor_override = _avg_options(count_include_pad, divisor_override)
    check_dy(dy, x, geo)
    divisor = _divisor(geo, count_include_pad, divisor_override, dy.dtype)
    dtype = (np.zeros(1, dtype=dy.dtype) / np.ravel(divisor)[:1]).dtype  # what dy / divisor gives
    return by_channel(lambda dy, out: _spread(dy / divisor, geo, out), dy, output_like=x, into=(x.shape[2:], dtype))
