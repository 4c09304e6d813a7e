"""Independent NumPy reference for 1-D, 2-D and 3-D convolution and its gradients.

(Max pooling is in :mod:`symconv.reference.maxpool`, average pooling in
:mod:`symconv.reference.avgpool`; both are re-exported here.)

This module is the numerical ground truth that the symbolic derivations are
checked against, so it deliberately depends on nothing but NumPy and the
standard library. Semantics follow PyTorch: the kernel is *not* flipped
(cross-correlation), tensors are channels-first, 1-D inputs are (N, C, L),
2-D inputs (N, C, H, W) and 3-D inputs (N, C, D, H, W).

With zero padding ``P``, stride ``S``, dilation ``D`` and groups ``G``, the
forward pass of one group is::

    y[n, f, o] = b[f] + sum_{c, k} w[f, c, k] * xpad[n, c, S*o + D*k]

For the scalar loss ``L = sum(dy * y)`` each gradient is again a convolution:

* ``db[f] = sum_{n, o} dy[n, f, o]`` -- the bias touches every output once.
* ``dw[f, c, k] = sum_{n, o} dy[n, f, o] * xpad[n, c, S*o + D*k]`` -- the
  padded input correlated with ``dy`` (``dy`` acts as a kernel dilated by S).
* ``dx`` is the transposed convolution of ``dy`` with ``w``: insert ``S - 1``
  zeros between the entries of ``dy``, pad the result by ``D*(K-1)`` and
  correlate it with ``w`` rotated by 180 degrees (channel axes swapped), then
  crop the padding off. At stride 1 there is nothing to dilate and that is
  literally what the code does; otherwise, rather than materialising the
  dilated ``dy``, each kernel tap's contribution is added straight into the
  padded ``dx`` at the strided positions it came from (col2im; for float
  layers as long flat slices of the padded input's stride phases, see
  :mod:`symconv.reference.col2im`). Input positions that no window reaches
  keep a zero gradient.

``padding_mode`` is ``torch.nn.Conv2d``'s: with ``'reflect'``, ``'replicate'``
or ``'circular'`` x is first padded with its own entries (NumPy's ``np.pad``
modes ``reflect``, ``edge`` and ``wrap``) and convolved without padding; the
padded input's gradient is then folded back, each padded entry's gradient
added onto the entry of x it copies (:func:`symconv.reference.padding.fold`).

Both directions use an im2col layout, so the heavy lifting is one batched
matrix product per direction; the column matrix is built a few samples at a
time (a part of the batch, see :func:`_sample_parts`) rather than for the
whole batch, and a float bias rides in the forward's matrix product.
Only operations that NumPy also supports for ``dtype=object`` are used, so
arrays of :class:`fractions.Fraction` give exact rational results:

>>> from fractions import Fraction
>>> x = np.array([[[Fraction(1, 2), Fraction(1, 3), Fraction(1, 4)]]], dtype=object)
>>> conv_forward(x, np.array([[[Fraction(2), Fraction(-1)]]], dtype=object))
array([[[Fraction(2, 3), Fraction(5, 12)]]], dtype=object)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from symconv.reference import col2im
from symconv.reference.args import as_int, per_axis
from symconv.reference.padding import check_padding_mode, fold, pad
from symconv.reference.threads import run_parts, units

__all__ = ["conv_forward", "conv_backward"]


class _Geometry(NamedTuple):
    groups: int
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    kernel: tuple[int, ...]
    out: tuple[int, ...]




def _padding(padding, nd, kernel, dilation, stride):
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' requires stride 1, got stride={stride}")
            # Same split as PyTorch: an odd total puts the extra cell after.
            totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"padding: unknown string {padding!r}, expected 'valid' or 'same'")
    if isinstance(padding, (tuple, list)):
        if len(padding) != nd:
            raise ValueError(f"padding: expected {nd} entries, one per spatial axis, got {padding!r}")
        pairs = []
        for p in padding:
            if isinstance(p, (tuple, list)):
                if len(p) != 2:
                    raise ValueError(f"padding: a per-axis pair must be (before, after), got {p!r}")
                pairs.append((as_int("padding", p[0]), as_int("padding", p[1])))
            else:
                pairs.append((as_int("padding", p),) * 2)
    else:
        pairs = [(as_int("padding", padding),) * 2] * nd
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"padding: must be non-negative, got {padding!r}")
    return tuple(pairs)


def _geometry(x, w, stride, padding, dilation, groups):
    if x.ndim not in (3, 4, 5):
        raise ValueError(
            f"x: expected a 3-D (N, C, L), 4-D (N, C, H, W) or 5-D (N, C, D, H, W) array, got shape {x.shape}"
        )
    if w.ndim != x.ndim:
        raise ValueError(f"w: expected {x.ndim} dimensions like x, got shape {w.shape}")
    nd = x.ndim - 2
    groups = as_int("groups", groups)
    if groups < 1:
        raise ValueError(f"groups: must be >= 1, got {groups}")
    channels, filters = x.shape[1], w.shape[0]
    if channels % groups or filters % groups:
        raise ValueError(
            f"groups: {groups} must divide both input channels ({channels}) and filters ({filters})"
        )
    if w.shape[1] * groups != channels:
        raise ValueError(
            f"w: shape {w.shape} needs C/groups = {channels // groups} input channels, got {w.shape[1]}"
        )
    kernel = tuple(w.shape[2:])
    if min(kernel) < 1:
        raise ValueError(f"w: kernel sizes must be positive, got {kernel}")
    stride = per_axis("stride", stride, nd, 1)
    dilation = per_axis("dilation", dilation, nd, 1)
    pads = _padding(padding, nd, kernel, dilation, stride)
    out = []
    for size, (lo, hi), k, s, d in zip(x.shape[2:], pads, kernel, stride, dilation):
        starts = size + lo + hi - d * (k - 1)  # window origins at stride 1
        if starts < 1:
            raise ValueError(
                f"x: padded size {size + lo + hi} is smaller than the dilated kernel extent {d * (k - 1) + 1}"
            )
        out.append((starts - 1) // s + 1)
    return _Geometry(groups, stride, dilation, pads, kernel, tuple(out))


def _padded_zeros(shape, pads, dtype):
    # np.zeros rather than np.pad: for object arrays np.pad fills with
    # np.int64(0), while np.zeros gives plain Python 0, which mixes cleanly
    # with Fraction.
    return np.zeros(shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(shape[2:], pads)), dtype=dtype)


def _interior(shape, pads):
    return (slice(None), slice(None)) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(shape[2:], pads))


#: Bytes of column matrix built at a time. A few samples' worth fits in the
#: caches and one buffer is reused for every chunk of a part; the
#: whole-batch matrix (9x the input for a 3x3 kernel) was mostly paid for in
#: page faults and cache misses: chunking made a (32, 3, 32, 32) 3x3 layer's
#: forward + backward about twice as fast, and the (8, 64, 56, 56) one ~15%.
#: On two threads, fewer and larger NumPy calls overlap better: 4 MB chunks
#: took that layer from 4.7 to 3.6-4.0 ms against 2 MB ones (1 MB: 6.3 ms),
#: at the same single-thread time.
_CHUNK_BYTES = 2**22


def _column_chunks(x, geo, ones=False, width=None):
    """im2col, a few samples at a time: yield ``(samples, columns)``, where
    ``columns`` is the (m, G, C/G * prod(K), prod(out)) matrix of the input
    windows of the batch slice ``samples`` (with ``ones``, one more row of
    ones below each group's, for the bias). With ``width``, the buffer's rows
    are that long (the columns are their first prod(out) entries), so that
    ``columns.base`` can take a wider matrix once the columns are used up.

    Every chunk is written into the same buffer, so a consumer must be done
    with one chunk (it may overwrite it) before asking for the next."""
    if any(lo or hi for lo, hi in geo.pads):
        xp = _padded_zeros(x.shape, geo.pads, x.dtype)
        xp[_interior(x.shape, geo.pads)] = x
    else:
        xp = np.ascontiguousarray(x)
    # A read-only view indexed (n, c, *tap, *out): tap steps by the dilation,
    # output steps by the stride. Copying a slice of it into the buffer is the
    # one real copy, already in the row-major layout a GEMM per (n, g) wants.
    spatial = xp.strides[2:]
    view = as_strided(
        xp,
        shape=xp.shape[:2] + geo.kernel + geo.out,
        strides=xp.strides[:2]
        + tuple(st * d for st, d in zip(spatial, geo.dilation))
        + tuple(st * s for st, s in zip(spatial, geo.stride)),
        writeable=False,
    )
    n, c = x.shape[:2]
    g = geo.groups
    rows, cols = (c // g) * math.prod(geo.kernel), math.prod(geo.out)
    step = max(1, min(n, _CHUNK_BYTES // (g * rows * cols * x.dtype.itemsize)))
    buffer = np.empty((step, g, rows + ones, width or cols), dtype=x.dtype)
    if ones:
        buffer[:, :, rows] = 1
    for start in range(0, n, step):
        samples = slice(start, min(n, start + step))
        columns = buffer[: samples.stop - start, :, :, :cols]
        windows = view[samples].reshape((-1, g, c // g) + view.shape[2:])  # splitting axes: views both
        columns[:, :, :rows].reshape(windows.shape)[...] = windows
        yield samples, columns


#: Float work below this many multiply-adds stays on the calling thread:
#: handing it to threads would cost more than it saves.
_PARALLEL_MACS = 2**21


def _sample_parts(x, w, geo):
    """Slices of the batch that threads take in turn: a chunk of columns
    each (see :data:`_CHUNK_BYTES`), and several per core for large float work.

    Samples never interact except through the sum that makes ``dw``, so
    each part is the same computation on fewer samples. Small per-sample
    GEMMs (a 3-channel input has 27-row columns) are too small for BLAS to
    spread over cores itself, which left the second core idle: the
    (32, 3, 32, 32) and (8, 32, 28, 28) benchmark layers ran 1.4x PyTorch's
    time on one thread. Exact (object) arrays stay on one thread.
    """
    n, c = x.shape[:2]
    per_sample = c * math.prod(geo.kernel) * math.prod(geo.out) * x.dtype.itemsize
    macs = n * w.size * math.prod(geo.out)
    threaded = x.dtype.kind == "f" and w.dtype.kind == "f" and macs >= _PARALLEL_MACS
    return units(n, _CHUNK_BYTES // max(1, per_sample), threaded), threaded


def _correlate(x, w, geo, b=None):
    n, f, g = x.shape[0], w.shape[0], geo.groups
    w_mat = w.reshape(g, f // g, -1)
    product = np.result_type(x, w)
    y = np.empty((n, g, f // g, math.prod(geo.out)), dtype=product if b is None else np.result_type(product, b))
    if b is not None:
        b = b.reshape(g, f // g, 1)
    # A float bias of the product's dtype rides in the GEMM: one more column
    # of w against a row of ones under the columns, instead of another pass
    # over y (8 MB of memory traffic on the (32, 3, 32, 32) benchmark layer).
    fold = b is not None and y.dtype == product and y.dtype.kind == "f"
    if fold:
        w_mat, b = np.concatenate([w_mat, b.astype(product)], axis=-1), None

    def correlate_part(part):  # (G, F/G, C/G*K) against (m, G, C/G*K, P): a GEMM per (n, g)
        into = y[part]
        for samples, columns in _column_chunks(x[part], geo, ones=fold):
            if y.dtype == product:
                np.matmul(w_mat, columns, out=into[samples])
            else:  # b widens the dtype, and matmul only writes its own
                into[samples] = np.matmul(w_mat, columns)
            if b is not None:
                into[samples] += b

    run_parts(correlate_part, *_sample_parts(x, w, geo))
    return y.reshape((n, f) + geo.out)


def conv_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Cross-correlate ``x`` (N, C, *spatial) with ``w`` (F, C/groups, *kernel).

    Returns ``y`` of shape (N, F, *out). ``padding`` is an int, one int or
    one (before, after) pair per axis, or ``'valid'`` / ``'same'``;
    ``padding_mode`` what the padding holds: ``'zeros'``, ``'reflect'``,
    ``'replicate'`` or ``'circular'``.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    >>> conv_forward(x, w, b=np.array([0.5]), stride=2)
    array([[[[-4.5, -4.5],
             [-4.5, -4.5]]]])
    """
    x, w = np.asarray(x), np.asarray(w)
    geo = _geometry(x, w, stride, padding, dilation, groups)
    f = w.shape[0]
    if b is not None:
        b = np.asarray(b)
        if b.shape != (f,):
            raise ValueError(f"b: expected shape ({f},), got {b.shape}")
    if check_padding_mode(padding_mode, geo.pads, x.shape[2:]) != "zeros":
        x, geo = pad(x, geo.pads, padding_mode), geo._replace(pads=((0, 0),) * len(geo.pads))
    return _correlate(x, w, geo, b)


def conv_backward(dy, x, w, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Gradients ``(dx, dw, db)`` of ``L = sum(dy * conv_forward(x, w, ...))``.

    ``db`` has shape (F,) whether or not the forward pass used a bias.
    With a ``padding_mode`` other than zeros, dx includes the gradient of
    every padded entry, folded back onto the entry of x it copies.

    >>> x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    >>> w = np.array([[[1.0, 0.0, -1.0]]])
    >>> dx, dw, db = conv_backward(np.ones((1, 1, 3)), x, w)
    >>> dx
    array([[[ 1.,  1.,  0., -1., -1.]]])
    >>> dw
    array([[[ 6.,  9., 12.]]])
    >>> db
    array([3.])
    """
    dy, x, w = np.asarray(dy), np.asarray(x), np.asarray(w)
    geo = _geometry(x, w, stride, padding, dilation, groups)
    if check_padding_mode(padding_mode, geo.pads, x.shape[2:]) != "zeros":
        dxp, dw, db = conv_backward(dy, pad(x, geo.pads, padding_mode), w, stride, 0, dilation, groups)
        return fold(dxp, geo.pads, padding_mode, x.shape[2:]), dw, db
    n, c = x.shape[:2]
    f, g = w.shape[0], geo.groups
    if dy.shape != (n, f) + geo.out:
        raise ValueError(f"dy: expected shape {(n, f) + geo.out}, got {dy.shape}")
    nd = len(geo.out)
    dy_mat = dy.reshape(n, g, f // g, math.prod(geo.out))

    db = dy.sum(axis=(0,) + tuple(range(2, 2 + nd)))

    # At stride 1 with padding no wider than the kernel's reach, dx is a plain
    # correlation of the padded dy with the rotated kernel. Its column matrix
    # holds F*K rows against C*K for the col2im route below, so it only pays
    # when F <= C. On a 64->64 3x3 layer it cut the backward time by ~20%;
    # on a 3->16 layer it was three times slower, hence the guard. It reads the
    # padding's zeros, so a kernel with an infinity (inf * 0 = NaN) goes the other way.
    reach = [d * (k - 1) for d, k in zip(geo.dilation, geo.kernel)]
    finite = w.dtype.kind not in "fc" or bool(np.isfinite(w).all())
    shortcut = finite and f <= c and all(s == 1 for s in geo.stride)
    shortcut = shortcut and all(max(p) <= r for p, r in zip(geo.pads, reach))

    # Otherwise: the gradient w.r.t. the columns, then col2im, where every
    # tap scatters its slab back onto the strided input positions it was read
    # from. Taps overlap, so they are accumulated one at a time (a single
    # overlapping view would lose updates); there are only prod(K) of them.
    # Input positions that no window reaches keep their zero. Both this and
    # dw consume the same chunk of columns, so it is built once.
    w_mat = w.reshape(g, f // g, -1)
    dw_dtype, dx_dtype = np.result_type(dy, x), np.result_type(w, dy)
    # Float layers with a finite kernel add the column gradients back as
    # long flat slices of the padded input's stride phases (col2im.py);
    # exact (object) arrays and the rest take the strided boxes below.
    flat = None
    if not shortcut and dx_dtype.kind == "f" and w.dtype.kind == "f" and finite:
        flat = col2im.plan(x.shape, geo.pads, geo.kernel, geo.stride, geo.dilation, geo.out)
        dxph = flat.zeros(n, c, dx_dtype)
        k = math.prod(geo.kernel)  # w^T with its rows tap-major: (G, K * C/G, F/G)
        w_taps = w.reshape(g, f // g, c // g, k).swapaxes(2, 3).reshape(g, f // g, k * (c // g)).swapaxes(1, 2)
        dx = None if flat.phases == 1 else np.empty(x.shape, dtype=dx_dtype)
    dxp = None if shortcut or flat else _padded_zeros(x.shape, geo.pads, dx_dtype)

    def backward_part(part):
        """This part's share of ``dw``, and its slice of the padded ``dx``."""
        dw_part = np.zeros((g, f // g, w_mat.shape[-1]), dtype=dw_dtype)
        dy_part, dxp_part = dy_mat[part], None if dxp is None else dxp[part]
        grid = None
        width = None if flat is None else max(flat.size, math.prod(geo.out))
        for samples, columns in _column_chunks(x[part], geo, width=width):
            # Per-sample GEMMs, then a sum of the tiny (F/G, C/G*K) products (folding N
            # into the contraction needs a transposed copy: 35% slower on (32, 3, 32, 32)).
            dw_part += np.matmul(dy_part[samples], columns.swapaxes(-1, -2)).sum(axis=0)
            if shortcut:
                continue
            if flat:
                m = samples.stop - samples.start
                if grid is None:  # one per part, reused by its chunks
                    grid = flat.grid(columns.shape[0], f, dy.dtype)
                cells = flat.fill(grid, dy[part][samples]).reshape(m, g, f // g, flat.size)
                # The columns are used up: their buffer takes the column gradient.
                into = columns.base[:m, :, :, : flat.size] if columns.dtype == dx_dtype else None
                into = np.matmul(w_taps, cells, out=into)
                flat.add(dxph[part][samples], into.reshape(m, g, k, c // g, flat.size), g)
                continue
            # The columns are used up: their buffer takes the column gradient.
            into = columns if columns.dtype == dx_dtype else None
            dcols = np.matmul(w_mat.swapaxes(-1, -2), dy_part[samples], out=into)
            dcols = dcols.reshape((-1, c) + geo.kernel + geo.out)
            for tap in np.ndindex(*geo.kernel):
                where = tuple(
                    slice(t * d, t * d + (o - 1) * s + 1, s)
                    for t, d, o, s in zip(tap, geo.dilation, geo.out, geo.stride)
                )
                dxp_part[(samples, slice(None)) + where] += dcols[(slice(None), slice(None)) + tap]
        if flat and dx is not None:  # this part's samples out of the stride phases, on its thread
            flat.unphase(dxph[part], x[part].shape, out=dx[part])
        return dw_part

    dw_parts = run_parts(backward_part, *_sample_parts(x, w, geo))
    dw = dw_parts[0]
    for dw_part in dw_parts[1:]:
        dw += dw_part
    dw = dw.reshape(w.shape)

    if shortcut:
        rotated = w.reshape((g, f // g, c // g) + geo.kernel).swapaxes(1, 2)
        rotated = rotated[(Ellipsis,) + (slice(None, None, -1),) * nd].reshape((c, f // g) + geo.kernel)
        pads = tuple((r - lo, r - hi) for r, (lo, hi) in zip(reach, geo.pads))
        dx = _correlate(dy, rotated, geo._replace(pads=pads, out=x.shape[2:]))
        return dx, dw, db
    if flat:
        return (flat.unphase(dxph, x.shape) if dx is None else dx), dw, db
    dx = dxp[_interior(x.shape, geo.pads)]
    return dx, dw, db
