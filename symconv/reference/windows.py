"""The window geometry the pooling kernels share: which input positions each window reads.

Window ``o`` of an axis reads the input positions ``o*S - P + D*k`` for
``k < K``; see :mod:`symconv.reference.maxpool` for the rules (PyTorch's).
Large float inputs are pooled on threads, one part of the channels each, and
every part in chunks of about :data:`CHUNK_BYTES` (:func:`by_channel`).
Like every reference kernel this imports nothing but NumPy and the standard
library.
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

import numpy as np

from symconv.reference.args import as_bool, per_axis
from symconv.reference.threads import run_parts, units


class PoolGeometry(NamedTuple):
    size: tuple[int, ...]  # input spatial shape
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    out: tuple[int, ...]


def pool_geometry(x, kernel, stride, padding, dilation, ceil_mode):
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"x: expected a 3-D (N, C, L), 4-D (N, C, H, W) or 5-D (N, C, D, H, W) array, "
                         f"got shape {x.shape}")
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
    return PoolGeometry(tuple(x.shape[2:]), kernel, stride, padding, dilation, tuple(out))


def check_dy(dy, x, geo):
    expected = x.shape[:2] + geo.out
    if dy.shape != expected:
        raise ValueError(f"dy: expected shape {expected}, got {dy.shape}")


#: Float arrays with fewer elements than this are pooled on the calling thread:
#: below it, handing the work to threads costs more than it saves.
PARALLEL_ELEMENTS = 2**18

#: Bytes of the largest array (input or result) pooled per call. Each
#: window pass reads the output of the one before, so a chunk that stays in
#: the caches saves main-memory traffic on every pass; but on two threads
#: fewer and larger NumPy calls overlap better. On the (8, 64, 56, 56)
#: benchmark input, 3x3 stride 2, two threads (2026-12-07, freed memory
#: kept for reuse): max pool forward + backward 11.2 ms in 2 MB chunks,
#: 9.7 ms in 8 MB ones (one per thread here), 17 ms in 1 MB ones; average
#: pool 7.1, 6.1-6.8 and 9.1 ms. On one thread 2 MB and 8 MB took the same.
CHUNK_BYTES = 2**23


def by_channel(pool, *arrays, output_like=None, into=None):
    """``pool(*arrays)`` for arrays shaped (N, C, ...) whose channels are
    pooled independently, a part of the channels per call, the parts taken
    in turn by one thread per core for large float arrays. ``output_like``,
    an array with as many elements per channel as the result, sizes the
    parts when the result is larger than every input (an average pool's dx
    is as large as x, not dy).

    With ``into = (spatial shape, dtype)`` of the result, the result is
    allocated first and ``pool(*parts, out=...)`` writes each part's share
    straight into it; otherwise each part's result is copied into place.

    Like PyTorch's CPU pooling, the flattened (N, C) axis is cut into
    contiguous parts that run on threads (NumPy releases the GIL in the
    element-wise loops that do all the work here). Each call is complete on
    its own channels, so the result is the same as one call's, bit for bit.
    """
    lead = arrays[0].shape[:2]
    channels = math.prod(lead)
    flat = [a.reshape((channels, 1) + a.shape[2:]) for a in arrays]
    sizes = [a.nbytes for a in arrays + (() if output_like is None else (output_like,))]
    per_channel = max(sizes) // max(1, channels)
    step = max(1, CHUNK_BYTES // max(1, per_channel))
    threaded = all(a.dtype.kind == "f" and a.size >= PARALLEL_ELEMENTS for a in arrays)
    parts = units(channels, step, threaded)
    if into is not None:
        result = np.empty((channels, 1) + tuple(into[0]), dtype=into[1])
        run_parts(lambda part: pool(*(a[part] for a in flat), out=result[part]), parts, threaded)
        return result.reshape(lead + result.shape[2:])
    # The output is allocated by whichever part finishes first: only then
    # are its dtype and trailing shape known. Each part writes its result
    # straight into place, so no thread waits to copy at the end.
    out, allocating = [], threading.Lock()

    def pool_part(part):
        result = pool(*(a[part] for a in flat))
        with allocating:
            if not out:
                out.append(np.empty((channels,) + result.shape[1:], dtype=result.dtype))
        out[0][part] = result

    run_parts(pool_part, parts, threaded)
    return out[0].reshape(lead + out[0].shape[2:])


# --------------------------------------------------------------------------
# Windows along one axis, shared with average pooling.
# --------------------------------------------------------------------------


def axis_taps(geo, axis):
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


def window_groups(x, outs, geo, axis, also=()):
    """The windows along ``axis``, grouped by the taps that land on real inputs.

    Yields ``(dsts, taps)``: views ``dsts`` of the windows of the group in
    each array of ``outs`` (shaped like ``x`` but with ``geo.out[axis]``
    along ``axis``), and ``taps``, a list in kernel order of ``(tap, view of
    x, *views of also)`` with what that tap reads for those windows from
    ``x`` and from each array of ``also`` (arrays shaped like ``x``).
    Padding never appears.

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
    taps = axis_taps(geo, axis)
    lead, inner = math.prod(x.shape[: 2 + axis]), math.prod(x.shape[3 + axis :])
    # Views (rows before the axis, the axis, everything after it); for the
    # arrays of ``outs``, which are ours and contiguous, always views.
    sources = [a.reshape(lead, h, inner) for a in (x,) + tuple(also)]
    frames = [a.reshape(lead, o, inner) for a in outs]
    lo, hi = 0, 0
    if len(taps) == k:
        lo, hi = max(t[2] for t in taps), min(t[3] for t in taps)
    if lo < hi and h == o * s:
        stop = lead * o - (o - hi)  # the last row's last interior window, plus one
        longs = [source.reshape(lead * h, inner) for source in sources]
        reads = [(tap,) + tuple(long[lo * s + offset : (stop - 1) * s + offset + 1 : s] for long in longs)
                 for tap, offset, _, _ in taps]
        yield [f.reshape(lead * o, inner)[lo:stop] for f in frames], reads
    elif lo < hi:
        reads = [(tap,) + tuple(source[:, lo * s + offset : (hi - 1) * s + offset + 1 : s] for source in sources)
                 for tap, offset, _, _ in taps]
        yield [f[:, lo:hi] for f in frames], reads
    for window in (w for w in range(o) if not lo <= w < hi):
        reads = [(tap,) + tuple(source[:, window * s + offset] for source in sources)
                 for tap, offset, a, b in taps if a <= window < b]
        yield [f[:, window] for f in frames], reads


# --------------------------------------------------------------------------
# The same windows as taps over stride phases, for verify_stack's search for
# the nearest max-pool kink (it lists every window's candidates).
# --------------------------------------------------------------------------


def taps(geo):
    """List ``(number, phase, src, dst)`` for every kernel tap, in row-major
    order: the windows ``dst`` for which the tap lands on a real input rather
    than on padding, and the contiguous block ``src`` of the stride phase
    ``phase`` of the input (see :func:`phases`) that they read there.

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


def phases(x, geo, taps):
    """The stride phases ``x[..., r::S, q::S']`` that the taps read, by phase."""
    return {
        phase: x[(Ellipsis,) + tuple(slice(r, None, s) for r, s in zip(phase, geo.stride))]
        for _, phase, _, _ in taps
    }


def window_candidates(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Every window's candidates in scan order: ``y.shape + (taps,)``, -inf where a tap lands in the padding.

    >>> window_candidates(np.array([[[1.0, 5.0, 2.0]]]), 2, stride=1)[0, 0].tolist()
    [[1.0, 5.0], [5.0, 2.0]]
    """
    geo = pool_geometry(x, kernel, stride, padding, dilation, ceil_mode)
    listed = taps(geo)
    by_phase = phases(x, geo, listed)
    candidates = np.full(x.shape[:2] + geo.out + (len(listed),), -np.inf)
    for column, (_, phase, src, dst) in enumerate(listed):
        candidates[dst + (column,)] = by_phase[phase][src]
    return candidates
