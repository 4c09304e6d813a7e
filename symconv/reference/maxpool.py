"""Independent NumPy reference for 1-D, 2-D and 3-D max pooling.

Its window geometry, shared with average pooling, is :mod:`symconv.reference.windows`.
Like the convolution kernels it depends on nothing but NumPy and the standard
library, and it follows PyTorch's ``max_pool1d/2d/3d`` and ``avg_pool1d/2d/3d``:
inputs are (N, C, L), (N, C, H, W) or (N, C, D, H, W), and every channel is
pooled on its own.

Geometry, per spatial axis with input size ``H``, kernel ``K``, stride ``S``
(default: the kernel), symmetric padding ``P`` and dilation ``D`` (max only):

* ``P`` may be at most ``K // 2``. PyTorch's message speaks of half the
  *effective* (dilated) kernel, but it also checks the undilated kernel, and
  that is the check that binds: ``K = 3, D = 2, P = 2`` is rejected.
* Window ``o`` reads the input positions ``o*S - P + D*k`` for ``k < K``.
  There are ``floor((H + 2P - D(K-1) - 1) / S) + 1`` windows, or with
  ``ceil_mode`` the ceiling, minus one if that last window would start in the
  right padding (``(out-1)*S >= H + P``). A ceil-mode window may therefore
  hang past the padding, and may even be wider than the padded input.

Max pooling: a padded position is never a candidate. Each window's value is
its largest input, and its gradient flows to exactly one input: the *first*
maximum in row-major order of the window, which is PyTorch's CPU rule for
ties (so an input that is itself ``-inf`` still takes the gradient, never the
padding). Overlapping windows add their gradients. A window that covers no
input at all (possible with dilation) yields ``-inf`` and passes no gradient
on; PyTorch's backward writes that gradient to an address outside the window.
A window holding a NaN yields NaN, and its gradient goes to its NaN (the
last NaN in scan order, if several), exactly as PyTorch's CPU kernel does.

How it is computed. A 2-D window is a box, so its maximum is taken one axis
at a time: first along W (each row's maxima over ``K_w`` taps), then along H
over those row maxima. That is ``K_h + K_w`` passes over arrays rather than
``K_h * K_w``, and every pass reads plain strided slices of its input, with
neither a padded copy nor a mask (see :func:`_window_groups`). The backward
repeats these passes and remembers, per pass, which tap gave the maximum
first: along W the first maximum of each row, then along H the first row
whose maximum is the window's. Reducing the *last* axis first is what makes
that the first maximum in row-major order: the earliest row holding the
maximum wins, and within it the earliest column. Those choices give every
window's chosen input as a flat index, and ``np.bincount`` adds ``dy`` there.

The work is cut along the flattened (N, C) axis, which pooling never mixes:
into one part per core for large float arrays, run on threads, and each part
into chunks of a few channels that the caches hold (see :func:`_by_channel`).
Every channel goes through the same operations either way, so the result is
the same, bit for bit.

Only comparisons (and, for the average, additions and divisions by integers)
touch the values, so arrays of :class:`fractions.Fraction` (``dtype=object``)
pool exactly:

>>> from fractions import Fraction
>>> x = np.array([[[Fraction(1, 3), Fraction(1, 2), Fraction(1, 4)]]], dtype=object)
>>> max_pool_forward(x, 2, stride=1)
array([[[Fraction(1, 2), Fraction(1, 2)]]], dtype=object)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from symconv.reference.windows import axis_taps, by_channel, check_dy, pool_geometry, window_groups

__all__ = ["max_pool_forward", "max_pool_backward"]


# --------------------------------------------------------------------------
# Max pooling.
# --------------------------------------------------------------------------


def _max_along(x, geo, axis, track=False, nan_wins=False):
    """Maximum over the kernel taps along ``axis``: an array like ``x`` with
    ``geo.out[axis]`` along it; with ``track``, also the tap that gave each
    window's first maximum (``K``, one past the last tap, where none lands).
    With ``nan_wins`` a NaN is a window's maximum, and of several the last
    takes it, as in PyTorch's CPU kernel (``val > maxval || isnan(val)``).
    """
    k = geo.kernel[axis]
    shape = x.shape[: 2 + axis] + (geo.out[axis],) + x.shape[3 + axis :]
    best = np.empty(shape, dtype=x.dtype)
    first = np.empty(shape, dtype=np.min_scalar_type(k)) if track else None
    for dsts, taps in window_groups(x, [best, first] if track else [best], geo, axis):
        if not taps:  # padding only: -inf, and no tap to pass the gradient to.
            # (float('-inf') rather than np.inf's negation keeps object
            # arrays free of NumPy scalars.)
            dsts[0][...] = float("-inf")
            if track:
                dsts[1][...] = k
            continue
        (tap, values), later_taps = taps[0], taps[1:]
        if track:
            dsts[1][...] = tap
        if not later_taps:
            np.copyto(dsts[0], values)
        # A later tap takes over only where it is *strictly* greater than the
        # maximum so far, so the first maximum stays chosen. Taps come in
        # increasing order, so ``maximum(first, greater * tap)`` sets ``tap``
        # exactly where ``greater`` holds (np.where, or a masked copy, takes
        # several times longer). The first two taps are compared directly,
        # which saves copying the first one.
        so_far = values
        for tap, values in later_taps:
            if track:
                greater = values > so_far
                if nan_wins:
                    greater |= np.isnan(values)
                np.maximum(dsts[1], np.multiply(greater, tap, dtype=first.dtype), out=dsts[1])
            np.maximum(so_far, values, out=dsts[0])
            so_far = dsts[0]
    return (best, first) if track else best


def max_pool_forward(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max-pool ``x`` (N, C, *spatial) over windows of shape ``kernel``.

    ``kernel``, ``stride`` (default ``kernel``), ``padding`` and ``dilation``
    are an int or one int per spatial axis; padding is symmetric.

    >>> x = np.array([[[[1.0, 5.0, 2.0, 0.0],
    ...                 [3.0, 4.0, 7.0, 1.0],
    ...                 [0.0, 2.0, 6.0, 6.0]]]])
    >>> max_pool_forward(x, 2)
    array([[[[5., 7.]]]])
    >>> max_pool_forward(x, 2, ceil_mode=True)
    array([[[[5., 7.],
             [2., 6.]]]])
    """
    x = np.asarray(x)
    geo = pool_geometry(x, kernel, stride, padding, dilation, ceil_mode)
    return by_channel(lambda x: _max(x, geo), x)


def _max(x, geo):
    for axis in reversed(range(len(geo.out))):  # the last axis first, as in the backward
        x = _max_along(x, geo, axis)
    return x


def max_pool_backward(dy, x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Gradient ``dx`` of ``L = sum(dy * max_pool_forward(x, ...))``.

    Each ``dy`` entry goes to the first maximum of its window; ties between
    equal values resolve to the earliest in row-major order. A NaN is its
    window's maximum (the last NaN, if several), as in PyTorch.

    >>> x = np.array([[[2.0, 2.0, 1.0, 2.0]]])
    >>> max_pool_backward(np.array([[[10.0, 20.0, 30.0]]]), x, 2, stride=1)
    array([[[10., 20.,  0., 30.]]])
    """
    dy, x = np.asarray(dy), np.asarray(x)
    geo = pool_geometry(x, kernel, stride, padding, dilation, ceil_mode)
    check_dy(dy, x, geo)
    return by_channel(lambda dy, x: _max_backward(dy, x, geo), dy, x)


def _first_maxima(x, geo):
    """Flat index into ``x`` of each window's first maximum, and a mask of
    the windows that have one (None when all do)."""
    nd = len(geo.out)
    firsts, partial = [None] * nd, x
    nan_wins = x.dtype.kind == "f" and bool(np.isnan(x).any())  # one pass, only to keep finite inputs fast
    for axis in reversed(range(nd)):
        partial, firsts[axis] = _max_along(partial, geo, axis, track=True, nan_wins=nan_wins)
    # Follow the choices from the first axis to the last. ``index`` is the
    # flat position of the chosen input over (n*c, axes done so far); at
    # each later axis it picks the element of that axis's pass whose choice
    # applies (a row's first maximum, for the W pass).
    index = np.arange(math.prod(x.shape[:2])).reshape(x.shape[:2] + (1,) * nd)
    for axis in range(nd):
        s, p, d, o = geo.stride[axis], geo.padding[axis], geo.dilation[axis], geo.out[axis]
        window = np.arange(o).reshape((o,) + (1,) * (nd - 1 - axis))
        tap = firsts[axis]
        if axis:
            # The pass along ``axis`` ran over the outputs of the later axes
            # too (firsts[axis] is shaped (n*c, sizes before, outputs from
            # axis on)): its element for each window is at this flat index.
            later = math.prod(geo.out[axis + 1:])
            flat = (index * o + window) * later + np.arange(later).reshape(geo.out[axis + 1:])
            # mode="clip": windows without a maximum point anywhere; they are
            # masked out below.
            tap = np.take(tap.reshape(-1), flat, mode="clip")
        position = np.multiply(tap, d, dtype=np.intp)
        position += window * s - p
        position += index * geo.size[axis]
        index = position
    # Windows where no tap lands along some axis have no maximum.
    reached = [np.zeros(o, dtype=bool) for o in geo.out]
    for axis in range(nd):
        for _, _, lo, hi in axis_taps(geo, axis):
            reached[axis][lo:hi] = True
    if all(r.all() for r in reached):
        return index, None
    chosen = functools.reduce(np.logical_and.outer, reached)
    return index, np.broadcast_to(chosen, index.shape)


def _max_backward(dy, x, geo):
    index, chosen = _first_maxima(x, geo)
    if chosen is not None:
        index, dy = index[chosen], dy[chosen]
    # Overlapping windows may pick the same input, so repeated indices must
    # accumulate (a fancy-indexed += would keep only one of them). For
    # float64, np.bincount does that, adding in the same order as np.add.at
    # and so to the same bits, in less than half its time.
    dtype = np.result_type(dy, x)
    if dtype == np.float64:
        return np.bincount(index.ravel(), weights=dy.ravel(), minlength=x.size).reshape(x.shape)
    dx = np.zeros(x.size, dtype=dtype)
    np.add.at(dx, index.ravel(), dy.ravel())
    return dx.reshape(x.shape)


