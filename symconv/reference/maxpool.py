"""Independent NumPy reference for 1-D and 2-D max pooling, and the window
geometry that average pooling (:mod:`symconv.reference.avgpool`) shares.

The pooling half of :mod:`symconv.reference.conv` (which re-exports the kernels).
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
(A window holding a NaN yields NaN; NaN compares false with everything, so
which of its inputs gets the gradient is left unspecified. PyTorch's is a NaN.)

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

import math
import threading
from typing import NamedTuple

import numpy as np

from symconv.reference.args import as_bool, per_axis
from symconv.reference.threads import cores, run_parts, split

__all__ = ["max_pool_forward", "max_pool_backward"]


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


def _check_dy(dy, x, geo):
    expected = x.shape[:2] + geo.out
    if dy.shape != expected:
        raise ValueError(f"dy: expected shape {expected}, got {dy.shape}")


#: Float arrays with fewer elements than this are pooled on the calling thread:
#: below it, handing the work to threads costs more than it saves.
_PARALLEL_ELEMENTS = 2**18

#: Bytes of the largest array (input or result) pooled per call. Each
#: window pass reads the output of the one before, so a chunk that stays in
#: the L2/L3 caches saves main-memory traffic on every pass. On the
#: (8, 64, 56, 56) benchmark input, single-thread, 3x3 stride 2: the max
#: pool's forward + backward took 22 ms in 2 MB chunks (64 channels of x),
#: 25 ms in 0.5 MB ones, 42-45 ms in 8 MB chunks or all at once; the
#: average pool's 15, 16 and 37-42 ms.
_CHUNK_BYTES = 2**21


def _by_channel(pool, *arrays, output_like=None):
    """``pool(*arrays)`` for arrays shaped (N, C, ...) whose channels are
    pooled independently, a few channels per call, on one thread per core
    for large float arrays. ``output_like``, an array with as many elements
    per channel as the result, sizes the chunks when the result is larger
    than every input (an average pool's dx is as large as x, not dy).

    Like PyTorch's CPU pooling, the flattened (N, C) axis is cut into
    contiguous parts that run on threads (NumPy releases the GIL in the
    element-wise loops that do all the work here), and each part is pooled
    in chunks of about ``_CHUNK_BYTES``. Each call is complete on its own
    channels, so the result is the same as one call's, bit for bit.
    """
    lead = arrays[0].shape[:2]
    channels = math.prod(lead)
    flat = [a.reshape((channels, 1) + a.shape[2:]) for a in arrays]
    sizes = [a.nbytes for a in arrays + (() if output_like is None else (output_like,))]
    per_channel = max(sizes) // max(1, channels)
    step = max(1, _CHUNK_BYTES // max(1, per_channel))
    threaded = all(a.dtype.kind == "f" and a.size >= _PARALLEL_ELEMENTS for a in arrays)
    parts = split(channels, cores()) if threaded else [slice(0, channels)]
    # The output is allocated by whichever chunk finishes first: only then
    # are its dtype and trailing shape known. Each chunk writes its result
    # straight into place, so no thread waits to copy at the end.
    out, allocating = [], threading.Lock()

    def pool_part(part):
        length = part.stop - part.start
        for chunk in split(length, -(-length // step)):  # equal chunks, as few as fit
            chunk = slice(part.start + chunk.start, part.start + chunk.stop)
            result = pool(*(a[chunk] for a in flat))
            with allocating:
                if not out:
                    out.append(np.empty((channels,) + result.shape[1:], dtype=result.dtype))
            out[0][chunk] = result

    run_parts(pool_part, parts)
    return out[0].reshape(lead + out[0].shape[2:])


# --------------------------------------------------------------------------
# Windows along one axis, shared with average pooling.
# --------------------------------------------------------------------------


def _axis_taps(geo, axis):
    """``(tap, offset, lo, hi)`` for every kernel tap along one axis that lands
    on a real input at all: window ``o`` reads input ``o*S + offset``, which
    is a real input (not padding) exactly for ``lo <= o < hi``."""
    h, k, s, p, d, o = (v[axis] for v in (geo.size, geo.kernel, geo.stride, geo.padding, geo.dilation, geo.out))
    taps = []
    for tap in range(k):
        offset = tap * d - p
        lo, hi = max(0, -(offset // s)), min(o, (h - 1 - offset) // s + 1)
        if lo < hi:
            taps.append((tap, offset, lo, hi))
    return taps


def _window_groups(x, outs, geo, axis):
    """The windows along ``axis``, grouped by the taps that land on real inputs.

    Yields ``(dsts, taps)``: views ``dsts`` of the windows of the group in
    each array of ``outs`` (shaped like ``x`` but with ``geo.out[axis]``
    along ``axis``), and ``taps``, a list in kernel order of ``(tap, view of
    x)`` with what that tap reads for those windows. Padding never appears.

    The first group is the *interior*, the windows where every tap lands
    inside; what a tap reads there is one strided slice of ``x``. The others
    are the *edge* windows, one at a time, each with the taps that land.

    When ``S`` divides the input exactly (``H == out * S``), window ``o`` of
    one row is followed, at the same stride, by window 0 of the next: with
    the rows laid end to end, the interior of every row is then covered by a
    single long slice, which NumPy runs through several times faster than
    many short ones. Such a slice also runs across the edge windows between
    rows and reads garbage there, which is why the edge windows come after
    the interior: what they write overwrites it.
    """
    k, s, o = geo.kernel[axis], geo.stride[axis], geo.out[axis]
    h = x.shape[2 + axis]
    taps = _axis_taps(geo, axis)
    lead, inner = math.prod(x.shape[: 2 + axis]), math.prod(x.shape[3 + axis :])
    # Views (rows before the axis, the axis, everything after it); for the
    # arrays of ``outs``, which are ours and contiguous, always views.
    source = x.reshape(lead, h, inner)
    frames = [a.reshape(lead, o, inner) for a in outs]
    lo, hi = 0, 0
    if len(taps) == k:
        lo, hi = max(t[2] for t in taps), min(t[3] for t in taps)
    if lo < hi and h == o * s:
        stop = lead * o - (o - hi)  # the last row's last interior window, plus one
        long_source = source.reshape(lead * h, inner)
        reads = [(tap, long_source[lo * s + offset : (stop - 1) * s + offset + 1 : s]) for tap, offset, _, _ in taps]
        yield [f.reshape(lead * o, inner)[lo:stop] for f in frames], reads
    elif lo < hi:
        reads = [(tap, source[:, lo * s + offset : (hi - 1) * s + offset + 1 : s]) for tap, offset, _, _ in taps]
        yield [f[:, lo:hi] for f in frames], reads
    for window in (w for w in range(o) if not lo <= w < hi):
        reads = [(tap, source[:, window * s + offset]) for tap, offset, a, b in taps if a <= window < b]
        yield [f[:, window] for f in frames], reads


# --------------------------------------------------------------------------
# Max pooling.
# --------------------------------------------------------------------------


def _max_along(x, geo, axis, track=False):
    """Maximum over the kernel taps along ``axis``: an array like ``x`` with
    ``geo.out[axis]`` along it; with ``track``, also the tap that gave each
    window's first maximum (``K``, one past the last tap, where none lands).
    """
    k = geo.kernel[axis]
    shape = x.shape[: 2 + axis] + (geo.out[axis],) + x.shape[3 + axis :]
    best = np.empty(shape, dtype=x.dtype)
    first = np.empty(shape, dtype=np.min_scalar_type(k)) if track else None
    for dsts, taps in _window_groups(x, [best, first] if track else [best], geo, axis):
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
    geo = _pool_geometry(x, kernel, stride, padding, dilation, ceil_mode)
    return _by_channel(lambda x: _max(x, geo), x)


def _max(x, geo):
    for axis in reversed(range(len(geo.out))):  # the last axis first, as in the backward
        x = _max_along(x, geo, axis)
    return x


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
    return _by_channel(lambda dy, x: _max_backward(dy, x, geo), dy, x)


def _first_maxima(x, geo):
    """Flat index into ``x`` of each window's first maximum, and a mask of
    the windows that have one (None when all do)."""
    nd = len(geo.out)
    firsts, partial = [None] * nd, x
    for axis in reversed(range(nd)):
        partial, firsts[axis] = _max_along(partial, geo, axis, track=True)
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
            # mode="clip": windows without a maximum point anywhere; they are
            # masked out below.
            tap = np.take(tap.reshape(-1), index * o + window, mode="clip")
        position = np.multiply(tap, d, dtype=np.intp)
        position += window * s - p
        position += index * geo.size[axis]
        index = position
    # Windows where no tap lands along some axis have no maximum.
    reached = [np.zeros(o, dtype=bool) for o in geo.out]
    for axis in range(nd):
        for _, _, lo, hi in _axis_taps(geo, axis):
            reached[axis][lo:hi] = True
    if all(r.all() for r in reached):
        return index, None
    chosen = reached[0] if nd == 1 else np.logical_and.outer(*reached)
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


# --------------------------------------------------------------------------
# The same windows as taps over stride phases, for verify_stack's search for
# the nearest max-pool kink (it lists every window's candidates).
# --------------------------------------------------------------------------


def _taps(geo):
    """List ``(number, phase, src, dst)`` for every kernel tap, in row-major
    order: the windows ``dst`` for which the tap lands on a real input rather
    than on padding, and the contiguous block ``src`` of the stride phase
    ``phase`` of the input (see :func:`_phases`) that they read there.

    Window ``o`` reads input ``i = o*S - P + t*D`` at tap ``t``. Writing
    ``t*D - P = shift*S + r`` with ``0 <= r < S``, that is position ``o + shift``
    of the phase ``x[r::S]``: consecutive windows read consecutive elements.
    A tap that never lands inside is left out (its number is still used up)."""
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


def _phases(x, geo, taps):
    """The stride phases ``x[..., r::S, q::S']`` that the taps read, by phase."""
    return {
        phase: x[(Ellipsis,) + tuple(slice(r, None, s) for r, s in zip(phase, geo.stride))]
        for _, phase, _, _ in taps
    }
