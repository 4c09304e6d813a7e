"""Independent NumPy reference for transposed convolution (PyTorch's ``conv_transpose1d/2d/3d``).

It shares no code with the symbolic derivation it checks, nor with the
convolution kernel of :mod:`symconv.reference.conv`: it is written from the
transposed convolution's own definition, the scatter. With weight
``w`` of shape (C_in, C_out/G, *K), stride S, padding P, dilation D and
output_padding OP, input entry ``i`` of channel c adds ``x * w`` at every
tap k into the full output::

    full[n, f, i*S + k*D] += x[n, c, i] * w[c, f, k]      (c, f in one group)
    y = full[..., P : P + out] + b,   out = (H-1)*S - 2P + D(K-1) + OP + 1

so positions before P and after P + out are cropped off and the last OP
positions (when OP > P) receive no product, only the bias. The forward
multiplies every input column by the whole kernel in one matrix product
per (sample, group), then adds each tap's slab into the full output at the
strided positions it reaches (col2im; taps overlap, so one at a time).

For ``L = sum(dy * y)`` the backward gathers instead: with ``dy`` placed at
offset P in zeros as long as the full output, ``cols[n, f, k, i] =
dyfull[n, f, i*S + k*D]`` (im2col of dy: taps D apart, windows S apart), and

* ``dx[n, c, i] = sum_{f, k} w[c, f, k] * cols[n, f, k, i]`` (a plain
  convolution of dy with w, with the same stride, padding and dilation);
* ``dw[c, f, k] = sum_{n, i} x[n, c, i] * cols[n, f, k, i]``;
* ``db[f] = sum_{n, o} dy[n, f, o]``.

Only operations NumPy also supports for ``dtype=object`` are used, so
arrays of :class:`fractions.Fraction` give exact results; float batches
large enough run on one thread per core (:mod:`symconv.reference.threads`).

>>> x = np.array([[[1.0, 2.0]]])
>>> w = np.array([[[1.0, 10.0, 100.0]]])
>>> conv_transpose_forward(x, w, stride=2)
array([[[  1.,  10., 102.,  20., 200.]]])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from symconv.reference.args import as_int, per_axis
from symconv.reference.threads import cores, run_parts, split

__all__ = ["conv_transpose_forward", "conv_transpose_backward"]


class _Shape(NamedTuple):
    groups: int
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    kernel: tuple[int, ...]
    out: tuple[int, ...]
    full: tuple[int, ...]  # the uncropped output, long enough to hold y at offset P


def _shape(x, w, stride, padding, output_padding, dilation, groups) -> _Shape:
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"x: expected a 3-D, 4-D or 5-D array (N, C_in, *spatial), got shape {x.shape}")
    if w.ndim != x.ndim:
        raise ValueError(f"w: expected {x.ndim} dimensions like x, got shape {w.shape}")
    nd = x.ndim - 2
    groups = as_int("groups", groups)
    if groups < 1 or x.shape[1] % groups:
        raise ValueError(f"groups: expected a positive divisor of C_in = {x.shape[1]}, got {groups}")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w: shape {w.shape} needs C_in = {x.shape[1]} on axis 0 (C_in, C_out/groups, *K)")
    kernel = tuple(w.shape[2:])
    stride = per_axis("stride", stride, nd, 1)
    dilation = per_axis("dilation", dilation, nd, 1)
    padding = per_axis("padding", padding, nd, 0)
    extra = per_axis("output_padding", output_padding, nd, 0)
    if any(op >= s and op >= d for op, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"output_padding: {extra} must be smaller than either stride {stride} or dilation {dilation}")
    out, full = [], []
    for h, k, s, p, d, op in zip(x.shape[2:], kernel, stride, padding, dilation, extra):
        reach = (h - 1) * s + d * (k - 1) + 1  # the positions the scatter writes
        size = reach - 2 * p + op
        if size < 1:
            raise ValueError(f"output size {size} < 1 on an axis of size {h} (padding {p} too large)")
        out.append(size)
        full.append(max(reach, p + size))
    return _Shape(groups, stride, padding, dilation, kernel, tuple(out), tuple(full))


#: Float work below this many multiply-adds stays on the calling thread.
_PARALLEL_MACS = 2**21
#: Bytes of column matrix (one chunk of samples) built at a time: a few samples' worth stays in
#: the caches between the matrix product that writes it and the taps that read it.
_CHUNK_BYTES = 2**21


def _parts(x, w):
    """Slices of the batch for the threads: samples meet only in the sum that makes dw."""
    n = x.shape[0]
    macs = n * w.size * math.prod(x.shape[2:])
    if x.dtype.kind != "f" or w.dtype.kind != "f" or macs < _PARALLEL_MACS:
        return [slice(0, n)]
    return split(n, cores())


def _chunks(part, per_sample_bytes):
    """``part`` cut into runs of samples whose columns take about :data:`_CHUNK_BYTES`."""
    step = max(1, _CHUNK_BYTES // max(1, per_sample_bytes))
    return [slice(start, min(part.stop, start + step)) for start in range(part.start, part.stop, step)]


def _zeros(shape, dtype):
    # np.zeros of an object dtype holds Python 0, which mixes with Fraction exactly.
    return np.zeros(shape, dtype=dtype)


def _where(tap, shape, inputs):
    """The positions of the full output that tap ``tap`` of every input reaches: ``k*D`` on, every ``S``."""
    return tuple(slice(t * d, t * d + (h - 1) * s + 1, s)
                 for t, d, s, h in zip(tap, shape.dilation, shape.stride, inputs))


def conv_transpose_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """``y`` of shape (N, C_out, *out): every input entry times the kernel, scattered and cropped.

    >>> x = np.ones((1, 1, 2, 2))
    >>> conv_transpose_forward(x, np.ones((1, 1, 2, 2)), b=np.array([0.5]), padding=1, output_padding=0)
    array([[[[4.5]]]])
    """
    x, w = np.asarray(x), np.asarray(w)
    shape = _shape(x, w, stride, padding, output_padding, dilation, groups)
    n, c_in = x.shape[:2]
    g, f_group, inputs = shape.groups, w.shape[1], x.shape[2:]
    c_group, taps = c_in // g, list(np.ndindex(*shape.kernel))
    if b is not None:
        b = np.asarray(b)
        if b.shape != (g * f_group,):
            raise ValueError(f"b: expected shape ({g * f_group},), got {b.shape}")
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    # Rows (tap, f) per group: (G, K * C_out/G, C_in/G), so that each tap's slab of a product is contiguous.
    w_rows = np.ascontiguousarray(
        w.reshape((g, c_group, f_group, len(taps))).transpose(0, 3, 2, 1)).reshape(g, len(taps) * f_group, c_group)
    x_cols = x.reshape(n, g, c_group, math.prod(inputs))
    y = np.empty((n, g * f_group) + shape.out, dtype=dtype)
    crop = (slice(None), slice(None), slice(None)) + tuple(slice(p, p + o) for p, o in zip(shape.padding, shape.out))
    product = np.result_type(x, w)

    def scatter(part):
        sample_bytes = len(taps) * g * f_group * x_cols.shape[-1] * product.itemsize
        for chunk in _chunks(part, sample_bytes):
            m = chunk.stop - chunk.start
            columns = np.matmul(w_rows, x_cols[chunk]).reshape((m, g, len(taps), f_group) + inputs)
            full = _zeros((m, g, f_group) + shape.full, product)
            for t, tap in enumerate(taps):
                full[(slice(None),) * 3 + _where(tap, shape, inputs)] += columns[:, :, t]
            into = y[chunk]
            into[...] = full[crop].reshape(into.shape)
            if b is not None:
                into += b.reshape((-1,) + (1,) * len(shape.out))

    run_parts(scatter, _parts(x, w))
    return y


def conv_transpose_backward(dy, x, w, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Gradients ``(dx, dw, db)`` of ``L = sum(dy * conv_transpose_forward(x, w, ...))``.

    ``db`` has shape (C_out,) whether or not the forward pass used a bias.

    >>> dx, dw, db = conv_transpose_backward(np.array([[[1.0, 0.0, 2.0, 0.0, 3.0]]]), np.array([[[1.0, 2.0]]]),
    ...                                      np.array([[[1.0, 10.0, 100.0]]]), stride=2)
    >>> dx, dw, db
    (array([[[201., 302.]]]), array([[[5., 0., 8.]]]), array([6.]))
    """
    dy, x, w = np.asarray(dy), np.asarray(x), np.asarray(w)
    shape = _shape(x, w, stride, padding, output_padding, dilation, groups)
    n, c_in = x.shape[:2]
    g, f_group, inputs = shape.groups, w.shape[1], x.shape[2:]
    c_group, taps, size = c_in // g, list(np.ndindex(*shape.kernel)), math.prod(inputs)
    if dy.shape != (n, g * f_group) + shape.out:
        raise ValueError(f"dy: expected shape {(n, g * f_group) + shape.out}, got {dy.shape}")
    db = dy.sum(axis=(0,) + tuple(range(2, dy.ndim)))
    # w as (G, C_in/G, K * C_out/G), columns (tap, f), the order the gathered rows of dy come in.
    w_rows = np.ascontiguousarray(
        w.reshape((g, c_group, f_group, len(taps))).transpose(0, 1, 3, 2)).reshape(g, c_group, len(taps) * f_group)
    x_cols = x.reshape(n, g, c_group, size)
    dx = np.empty((n, g, c_group, size), dtype=np.result_type(w, dy))
    dw_dtype = np.result_type(x, dy)
    inside = (slice(None),) * 3 + tuple(slice(p, p + o) for p, o in zip(shape.padding, shape.out))

    def gather(part):
        """This part's dx, and its share of dw."""
        dw_part = _zeros((g, c_group, len(taps) * f_group), dw_dtype)
        sample_bytes = len(taps) * g * f_group * size * dy.dtype.itemsize
        for chunk in _chunks(part, sample_bytes):
            m = chunk.stop - chunk.start
            # dy at offset P in the zeros of the full output; rows[:, g, tap, f] = full[:, g, f, tap's positions].
            full = _zeros((m, g, f_group) + shape.full, dy.dtype)
            full[inside] = dy[chunk].reshape((m, g, f_group) + shape.out)
            rows = np.empty((m, g, len(taps), f_group) + inputs, dtype=dy.dtype)
            for t, tap in enumerate(taps):
                rows[:, :, t] = full[(slice(None),) * 3 + _where(tap, shape, inputs)]
            rows = rows.reshape(m, g, len(taps) * f_group, size)
            dx[chunk] = np.matmul(w_rows, rows)
            dw_part += np.matmul(x_cols[chunk], rows.swapaxes(-1, -2)).sum(axis=0)
        return dw_part

    dw_parts = run_parts(gather, _parts(x, w))
    dw = dw_parts[0]
    for more in dw_parts[1:]:
        dw += more
    dw = dw.reshape((g, c_group, len(taps), f_group)).transpose(0, 1, 3, 2)
    return dx.reshape(x.shape), dw.reshape(w.shape), db
