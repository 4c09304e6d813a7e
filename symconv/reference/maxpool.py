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
neither a padded copy nor a mask (see
:func:`~symconv.reference.windows.window_groups`). The backward repeats these
passes and remembers, per pass, which tap gave the maximum first: along W
the first maximum of each row, then along H the first row whose maximum is
the window's, carrying that row's choice along, as one small integer: the
chosen tap's number in row-major order over the whole kernel. Reducing the
*last* axis first is what makes that the first maximum in row-major order:
the earliest row holding the maximum wins, and within it the earliest
column. The window's origin plus that tap's offset is the chosen input's
flat index, and ``np.add.at`` adds ``dy`` there, in window order.

The work is cut along the flattened (N, C) axis, which pooling never mixes:
into parts of a few channels, at least one per core for large float arrays,
which threads take in turn (see :func:`~symconv.reference.windows.by_channel`).
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


def _max_along(x, geo, axis, out=None):
    """Maximum over the kernel taps along ``axis``: an array like ``x`` with
    ``geo.out[axis]`` along it (``-inf`` for a window of padding only), in ``out`` if given."""
    shape = x.shape[: 2 + axis] + (geo.out[axis],) + x.shape[3 + axis :]
    best = np.empty(shape, dtype=x.dtype) if out is None else out
    for (dst,), taps in window_groups(x, [best], geo, axis):
        _window_max(dst, [values for _, values in taps])
    return best


def _window_max(dst, values):
    if not values:  # padding only. (float('-inf') rather than np.inf's
        # negation keeps object arrays free of NumPy scalars.)
        dst[...] = float("-inf")
    elif len(values) == 1:
        np.copyto(dst, values[0])
    else:  # the first two taps in one call, which saves copying the first
        np.maximum(values[0], values[1], out=dst)
        for later in values[2:]:
            np.maximum(dst, later, out=dst)


def _first_along(x, geo, axis, carried, nan_wins):
    """The maximum along ``axis`` (as :func:`_max_along`) and, for every
    window, the tap number of its first maximum in row-major order over this
    axis and the later ones.

    ``carried`` (shaped like ``x``, or None for the last axis) holds that
    number over the later axes for each element of ``x``; a tap ``t`` along
    this axis adds ``t`` times the number of taps of the later axes. The
    taps come in order, and a later one takes over only where it is
    *strictly* greater than the maximum so far, so the first maximum stays
    chosen. With ``nan_wins`` a NaN takes over too, so that of several NaNs
    the last is chosen, as in PyTorch's CPU kernel (``val > maxval ||
    isnan(val)``). A window of padding only gets the number one past the
    last tap (it has no maximum to take the gradient).
    """
    later = math.prod(geo.kernel[axis + 1:])
    none = math.prod(geo.kernel[axis:])
    shape = x.shape[: 2 + axis] + (geo.out[axis],) + x.shape[3 + axis :]
    best = np.empty(shape, dtype=x.dtype)
    choice = np.empty(shape, dtype=np.min_scalar_type(math.prod(geo.kernel)))
    also = () if carried is None else (carried,)
    for (dst, chosen), taps in window_groups(x, [best, choice], geo, axis, also=also):
        if not taps:
            _window_max(dst, [])
            chosen[...] = none
            continue
        first, later_taps = taps[0], taps[1:]
        if carried is None:
            chosen[...] = first[0] * later
        else:
            np.add(first[2], first[0] * later, out=chosen, dtype=chosen.dtype)
        if not later_taps:
            np.copyto(dst, first[1])
        so_far = first[1]
        for read in later_taps:
            takes = np.greater(read[1], so_far)
            if nan_wins:
                takes |= np.isnan(read[1])
            if carried is None:  # tap numbers grow: the largest that took over is the last
                np.maximum(chosen, np.multiply(takes, read[0] * later, dtype=chosen.dtype), out=chosen)
            else:  # chosen = the carried number where ``takes``: arithmetic in the unsigned
                # integers, modulo their range (exact here), several times faster than a masked copy
                step = np.add(read[2], read[0] * later, dtype=chosen.dtype)
                np.subtract(step, chosen, out=step)
                np.multiply(step, takes, out=step)
                np.add(chosen, step, out=chosen)
            np.maximum(so_far, read[1], out=dst)
            so_far = dst
    return best, choice


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
    return by_channel(lambda x, out: _max(x, geo, out), x, into=(geo.out, x.dtype))


def _max(x, geo, out=None):
    for axis in reversed(range(len(geo.out))):  # the last axis first, as in the backward
        x = _max_along(x, geo, axis, out if axis == 0 else None)
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
    return by_channel(lambda dy, x, out: _max_backward(dy, x, geo, out), dy, x,
                      into=(x.shape[2:], np.result_type(dy, x)))


def _first_maxima(x, geo):
    """Flat index into ``x`` of each window's first maximum, and a mask of
    the windows that have one (None when all do)."""
    nd = len(geo.out)
    partial, choice = x, None
    nan_wins = x.dtype.kind == "f" and bool(np.isnan(x).any())  # one pass, only to keep finite inputs fast
    for axis in reversed(range(nd)):
        partial, choice = _first_along(partial, geo, axis, choice, nan_wins)
    # ``choice`` numbers each window's chosen tap in row-major order over
    # the whole kernel; its flat index in x is the window's origin plus that
    # tap's offset (a table with one more entry, for "none", masked below).
    index = np.take(_tap_offsets(geo), choice)
    index += _window_origins(x.shape[:2], geo)
    # Windows where no tap lands along some axis have no maximum.
    reached = [np.zeros(o, dtype=bool) for o in geo.out]
    for axis in range(nd):
        for _, _, lo, hi in axis_taps(geo, axis):
            reached[axis][lo:hi] = True
    if all(r.all() for r in reached):
        return index, None
    chosen = functools.reduce(np.logical_and.outer, reached)
    return index, np.broadcast_to(chosen, index.shape)


def _tap_offsets(geo):
    """Each tap's flat offset in a channel of x from its window's origin, in
    row-major tap order, and a last 0 for "no tap"."""
    steps = [math.prod(geo.size[axis + 1:]) for axis in range(len(geo.size))]
    offsets = functools.reduce(np.add.outer, [np.arange(k) * d * step
                                              for k, d, step in zip(geo.kernel, geo.dilation, steps)])
    return np.append(np.ravel(offsets), 0).astype(np.intp)


@functools.lru_cache(maxsize=16)
def _origins(lead, geo):
    """Flat index of every window's origin (its tap 0, maybe in the padding)
    in x, for ``lead`` channels; read-only, cached (a geometry repeats)."""
    steps = [math.prod(geo.size[axis + 1:]) for axis in range(len(geo.size))]
    axes = [(np.arange(o) * s - p) * step for o, s, p, step in zip(geo.out, geo.stride, geo.padding, steps)]
    origins = functools.reduce(np.add.outer, [np.arange(lead) * math.prod(geo.size)] + axes).astype(np.intp)
    origins.flags.writeable = False
    return origins


def _window_origins(lead_shape, geo):
    return _origins(math.prod(lead_shape), geo).reshape(lead_shape + geo.out)


def _max_backward(dy, x, geo, out):
    index, chosen = _first_maxima(x, geo)
    if chosen is not None:
        index, dy = index[chosen], dy[chosen]
    # Overlapping windows may pick the same input, so repeated indices must
    # accumulate (a fancy-indexed += would keep only one of them): np.add.at
    # adds them in window order, as PyTorch does. (np.bincount adds in the
    # same order, in about the same time, but into an array of its own that
    # then had to be copied into place.)
    out[...] = 0  # for object arrays a plain Python 0, which adds exactly
    np.add.at(out.reshape(-1), index.ravel(), dy.ravel())
    return out
