"""Independent NumPy reference for 1-D and 2-D max and average pooling.

The pooling half of :mod:`symconv.reference` (which re-exports these names).
Like the convolution kernels it depends on nothing but NumPy and the standard
library, and it follows PyTorch's ``max_pool1d/2d`` and ``avg_pool1d/2d``:
inputs are (N, C, L) or (N, C, H, W), and every channel is pooled on its own.

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

Average pooling sums the window and divides by

* ``count_include_pad=True`` (default): the window clipped to the *padded*
  input, ``prod(min(start + K, H + P) - start)`` with ``start = o*S - P``, so
  only a ceil-mode window hanging past the padding is cut short;
* ``count_include_pad=False``: the number of real (unpadded) inputs it covers;
* ``divisor_override``: that integer, whatever the window.

Its backward spreads ``dy / divisor`` evenly over the real inputs of each
window and adds up the overlaps.

How it is computed: Python loops run over kernel taps only. Max: for one
tap, the windows that read a real input form a contiguous run along every
axis, and the inputs they read are a block of one stride phase ``x[r::S]``
of ``x``, so there is neither a padded copy nor a mask, and padding can be
neither selected nor compared. ``y`` is the running ``np.maximum`` of the
blocks, from ``-inf``. The backward sweeps the taps again in row-major order
to find, per window, the first tap whose input equals ``y`` -- what
``np.argmax`` over the flattened window would return, without copying every
window (``prod(K)`` times ``x``) -- and scatter-adds ``dy`` there with
``np.add.at``. Average: the window is a box and its divisor a product, so
the sums are taken one axis at a time (``K_h + K_w`` strided additions rather
than ``K_h * K_w``), and the backward spreads ``dy / divisor`` back the same
way. Large float arrays are cut along the flattened (N, C) axis into one
part per core, pooled on threads (see :func:`_by_channel`); channels never
interact, so that changes nothing in the result.

Only comparisons, additions and divisions by integers are used, so arrays of
:class:`fractions.Fraction` (``dtype=object``) pool exactly:

>>> from fractions import Fraction
>>> x = np.array([[[Fraction(1, 3), Fraction(1, 2), Fraction(1, 4)]]], dtype=object)
>>> avg_pool_forward(x, 2, stride=1)
array([[[Fraction(5, 12), Fraction(3, 8)]]], dtype=object)
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from symconv.reference_args import as_bool, as_int, per_axis
from symconv.reference_threads import cores, run_parts, split

__all__ = ["max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward"]


class _PoolGeometry(NamedTuple):
    size: tuple[int, ...]  # input spatial shape
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    out: tuple[int, ...]





def _pool_geometry(x, kernel, stride, padding, dilation, ceil_mode):
    if x.ndim not in (3, 4):
        raise ValueError(f"x: expected a 3-D (N, C, L) or 4-D (N, C, H, W) array, got shape {x.shape}")
    nd = x.ndim - 2
    kernel = per_axis("kernel", kernel, nd, 1)
    stride = kernel if stride is None else per_axis("stride", stride, nd, 1)
    padding = per_axis("padding", padding, nd, 0)
    dilation = per_axis("dilation", dilation, nd, 1)
    ceil_mode = as_bool("ceil_mode", ceil_mode)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(
            f"padding: must be at most half the kernel size ({tuple(k // 2 for k in kernel)}), got {padding}"
        )
    out = []
    for axis, (h, k, s, p, d) in enumerate(zip(x.shape[2:], kernel, stride, padding, dilation)):
        extent = d * (k - 1) + 1
        o = (h + 2 * p - extent + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= h + p:
            o -= 1
        if o < 1:
            raise ValueError(
                f"kernel: a window of extent {extent} does not fit the padded input "
                f"of size {h + 2 * p} along spatial axis {axis}"
            )
        out.append(o)
    return _PoolGeometry(tuple(x.shape[2:]), kernel, stride, padding, dilation, tuple(out))


#: Float arrays with fewer elements than this are pooled on the calling thread:
#: below it, handing the work to threads costs more than it saves.
_PARALLEL_ELEMENTS = 2**18


def _by_channel(pool, *arrays):
    """``pool(*arrays)`` for arrays shaped (N, C, ...) whose channels are pooled
    independently, one part per core for large float arrays.

    Like PyTorch's CPU pooling, the flattened (N, C) axis is cut into
    contiguous parts that run on threads (NumPy releases the GIL in the
    element-wise loops that do all the work here); each part is a complete
    call on its own channels, so the result is the same as one call's, bit
    for bit. On the (8, 64, 56, 56) benchmark input, two threads took the
    forward + backward from about 17 to 10 ms (max, 3x3 stride 2) and from
    12 to 7 ms (average).
    """
    lead = arrays[0].shape[:2]
    channels = math.prod(lead)
    if any(a.dtype.kind != "f" or a.size < _PARALLEL_ELEMENTS for a in arrays):
        return pool(*arrays)
    parts = split(channels, cores())
    if len(parts) < 2:
        return pool(*arrays)
    flat = [a.reshape((channels, 1) + a.shape[2:]) for a in arrays]
    results = run_parts(lambda part: pool(*(a[part] for a in flat)), parts)
    out = np.empty((channels,) + results[0].shape[1:], dtype=results[0].dtype)
    for part, result in zip(parts, results):
        out[part] = result
    return out.reshape(lead + out.shape[2:])


def _check_dy(dy, x, geo):
    expected = x.shape[:2] + geo.out
    if dy.shape != expected:
        raise ValueError(f"dy: expected shape {expected}, got {dy.shape}")


# --------------------------------------------------------------------------
# Max pooling.
# --------------------------------------------------------------------------


def _taps(geo):
    """List ``(number, phase, src, dst)`` for every kernel tap, in row-major
    order: the windows ``dst`` for which the tap lands on a real input rather
    than on padding, and the contiguous block ``src`` of the stride phase
    ``phase`` of the input (see :func:`_phases`) that they read there.

    Window ``o`` reads input ``i = o*S - P + t*D`` at tap ``t``. Writing
    ``t*D - P = shift*S + r`` with ``0 <= r < S``, that is position ``o + shift``
    of the phase ``x[r::S]``: consecutive windows read consecutive elements.
    The windows that land inside the phase form one run per axis, so no padded
    copy and no mask is ever needed. A tap that never lands inside is left
    out (its number is still used up)."""
    taps = []
    for number, tap in enumerate(np.ndindex(*geo.kernel)):
        phase, src, dst = [], [Ellipsis], [Ellipsis]
        for t, h, s, p, d, o in zip(tap, geo.size, geo.stride, geo.padding, geo.dilation, geo.out):
            shift, r = divmod(t * d - p, s)
            lo, hi = max(0, -shift), min(o, len(range(r, h, s)) - shift)
            if hi <= lo:
                break
            phase.append(r)
            src.append(slice(lo + shift, hi + shift))
            dst.append(slice(lo, hi))
        else:
            taps.append((number, tuple(phase), tuple(src), tuple(dst)))
    return taps


def _phase_slice(phase, geo):
    return (Ellipsis,) + tuple(slice(r, None, s) for r, s in zip(phase, geo.stride))


def _phases(x, geo, taps, copy=False):
    """The stride phases ``x[..., r::S, q::S']`` that the taps read, by phase:
    views of ``x``, or with ``copy`` contiguous copies of them.

    A tap's block of a phase is contiguous in the window index, but as a view
    of ``x`` it is strided (unless S = 1), and NumPy works through short
    strided rows about twice as slowly as contiguous ones; a copy costs one
    pass over ``x``, so it pays when the taps read every phase several times.
    The copies share one buffer: that is faster than separate arrays, which
    glibc returns to the OS after every call, so that the next call pays page
    faults on all that memory again (expensive on small virtual machines)."""
    phases = {phase: x[_phase_slice(phase, geo)] for _, phase, _, _ in taps}
    if not copy or all(s == 1 for s in geo.stride):
        return phases
    buffer = np.empty(sum(view.size for view in phases.values()), dtype=x.dtype)
    copies, start = {}, 0
    for phase, view in phases.items():
        copies[phase] = buffer[start:start + view.size].reshape(view.shape)
        copies[phase][...] = view
        start += view.size
    return copies


def _worth_copying(taps):
    # Measured on (8, 64, 56, 56) at stride 2: copying paid off for 3x3
    # kernels (9 taps over 4 phases), not for 2x2 ones (one tap per phase).
    return len(taps) > 2 * len({phase for _, phase, _, _ in taps})


def _max(phases, x, geo, taps):
    # -inf where no tap lands: a window of padding only. (float('-inf') rather
    # than np.inf's negation keeps object arrays free of NumPy scalars.)
    y = np.full(x.shape[:2] + geo.out, float("-inf"), dtype=x.dtype)
    for _, phase, src, dst in taps:
        np.maximum(y[dst], phases[phase][src], out=y[dst])
    return y


def _first_maximum(x, geo, taps):
    """Flat index into ``x`` of each window's first maximum, and a mask of the
    windows that have one (all but windows of padding only)."""
    phases = _phases(x, geo, taps, copy=_worth_copying(taps))
    y = _max(phases, x, geo, taps)
    # Sweep the taps in row-major order. ``found`` becomes True at the first
    # tap equal to the window's maximum and stays True, so afterwards
    # ``count`` says how many taps from that one on were swept. Plain
    # comparisons and additions: np.copyto(..., where=) and np.where are
    # several times slower than these on large arrays.
    found = np.zeros(y.shape, dtype=bool)
    count = np.zeros(y.shape, dtype=np.min_scalar_type(len(taps)))
    for _, phase, src, dst in taps:
        found[dst] |= phases[phase][src] == y[dst]
        count += found
    # Flat (N, C, *spatial) index of every window's origin, o*S - P per axis
    # (it may lie in the padding), plus the offset of the chosen tap from it.
    # The offsets are listed from the last swept tap back to the first, after
    # a 0 for ``count == 0``, so that ``count`` indexes them directly.
    place = np.cumprod((1,) + geo.size[:0:-1])[::-1]  # flat stride of each spatial axis
    nd = len(geo.out)
    steps = np.array([np.unravel_index(number, geo.kernel) for number, _, _, _ in taps], dtype=np.intp)
    offsets = steps.reshape(len(taps), nd) @ (np.array(geo.dilation) * place)
    index = np.append(0, offsets[::-1])[count]
    # In place, broadcasting one axis at a time: no full-size temporaries.
    index += (np.arange(math.prod(x.shape[:2])) * math.prod(geo.size)).reshape(x.shape[:2] + (1,) * nd)
    for axis, (s, p, o) in enumerate(zip(geo.stride, geo.padding, geo.out)):
        index += ((np.arange(o) * s - p) * place[axis]).reshape((o,) + (1,) * (nd - axis - 1))
    return index, count > 0


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
    geo = _pool_geometry(x, kernel, stride, padding, dilation, ceil_mode)
    taps = _taps(geo)
    return _by_channel(lambda x: _max(_phases(x, geo, taps, copy=_worth_copying(taps)), x, geo, taps), x)


def max_pool_backward(dy, x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Gradient ``dx`` of ``L = sum(dy * max_pool_forward(x, ...))``.

    Each ``dy`` entry goes to the first maximum of its window; ties between
    equal values resolve to the earliest in row-major order.

    >>> x = np.array([[[2.0, 2.0, 1.0, 2.0]]])
    >>> max_pool_backward(np.array([[[10.0, 20.0, 30.0]]]), x, 2, stride=1)
    array([[[10., 20.,  0., 30.]]])
    """
    dy, x = np.asarray(dy), np.asarray(x)
    geo = _pool_geometry(x, kernel, stride, padding, dilation, ceil_mode)
    _check_dy(dy, x, geo)
    taps = _taps(geo)
    return _by_channel(lambda dy, x: _max_backward(dy, x, geo, taps), dy, x)


def _max_backward(dy, x, geo, taps):
    # (The phase copies are gone once _first_maximum returns, before dx takes
    # their place.)
    index, chosen = _first_maximum(x, geo, taps)
    if not chosen.all():
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


# --------------------------------------------------------------------------
# Average pooling.
# --------------------------------------------------------------------------


# The window is a box and its divisor a product over the axes, so the sums
# are taken one axis at a time: K_h + K_w strided additions per 2-D window
# instead of K_h * K_w, and the first pass (along H) runs over whole,
# contiguous rows. The backward spreads dy / divisor back the same way, axis
# by axis in reverse order. Padding is never materialised: a tap only touches
# the windows for which it lands on a real input.


def _axis_taps(geo, axis):
    """``(src, dst)`` for each kernel tap along one axis: the windows ``dst``
    for which that tap lands on a real input, and the inputs ``src`` they read."""
    h, k, s, p, o = geo.size[axis], geo.kernel[axis], geo.stride[axis], geo.padding[axis], geo.out[axis]
    taps = []
    for t in range(k):
        offset = t - p  # window o reads input o*S + offset
        lo, hi = max(0, -(offset // s)), min(o, (h - 1 - offset) // s + 1)
        if lo < hi:
            taps.append((slice(lo * s + offset, (hi - 1) * s + offset + 1, s), slice(lo, hi)))
    return taps


def _along(axis, nd, index):
    return (Ellipsis, index) + (slice(None),) * (nd - 1 - axis)


def _window_sums(x, geo):
    nd, total = len(geo.out), x
    for axis in range(nd):
        # np.zeros: for object arrays a plain Python 0, which adds exactly.
        partial = np.zeros(total.shape[: 2 + axis] + (geo.out[axis],) + total.shape[3 + axis :], dtype=x.dtype)
        for src, dst in _axis_taps(geo, axis):
            partial[_along(axis, nd, dst)] += total[_along(axis, nd, src)]
        total = partial
    return total


def _spread(share, geo):
    nd, spread = len(geo.out), share
    for axis in reversed(range(nd)):
        partial = np.zeros(spread.shape[: 2 + axis] + (geo.size[axis],) + spread.shape[3 + axis :], dtype=share.dtype)
        for src, dst in _axis_taps(geo, axis):
            partial[_along(axis, nd, src)] += spread[_along(axis, nd, dst)]
        spread = partial
    return spread


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
    geo = _pool_geometry(x, kernel, stride, padding, 1, ceil_mode)
    count_include_pad, divisor_override = _avg_options(count_include_pad, divisor_override)
    return _by_channel(lambda x: _average(x, geo, count_include_pad, divisor_override), x)


def _average(x, geo, count_include_pad, divisor_override):
    total = _window_sums(x, geo)
    divisor = _divisor(geo, count_include_pad, divisor_override, total.dtype)
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
    geo = _pool_geometry(x, kernel, stride, padding, 1, ceil_mode)
    count_include_pad, divisor_override = _avg_options(count_include_pad, divisor_override)
    _check_dy(dy, x, geo)
    divisor = _divisor(geo, count_include_pad, divisor_override, dy.dtype)
    return _by_channel(lambda dy: _spread(dy / divisor, geo), dy)
