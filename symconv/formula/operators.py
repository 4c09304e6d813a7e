r"""Operator identities: dx, dw and db of a convolution as whole-tensor operations.

For a layer with, per axis, input size :math:`H`, kernel :math:`K`, stride
:math:`S`, padding :math:`P_b, P_a` (before, after), dilation :math:`D` and
output size :math:`H_o`, the element-wise gradients are three operations:

.. math::

    dx = \operatorname{conv\_transpose}(dy, w;\ S, P, D, \mathit{op})
       = \widetilde{dy} \star_D w^{\mathrm{rot}}, \qquad
    dw = x^{\mathrm{pad}} \star^{D}_{S} dy, \qquad
    db_f = \sum_{n,i} dy_{n,f,i}.

* :math:`\widetilde{dy}` is dy with :math:`S-1` zeros between neighbours,
  placed :math:`D(K-1)-P_b` from the start of a zero array of length
  :math:`H + D(K-1)` (entries before the start are dropped when
  :math:`P_b > D(K-1)`); its tail holds the
  :math:`\mathit{op} = (H + P_b + P_a - D(K-1) - 1) \bmod S` rows the last
  window never read, PyTorch's ``output_padding``, without which several
  input sizes give the same output size.
* :math:`w^{\mathrm{rot}}_{c,f,k} = w_{f,c,K-1-k}`: rotated by 180 degrees,
  channel axes swapped; :math:`\star_D` correlates with the taps :math:`D` apart.
* :math:`x^{\mathrm{pad}}` is x with :math:`P_b` zeros in front, cut to the
  :math:`(H_o-1)S + D(K-1) + 1` positions the windows read; dy acts as its
  kernel with taps :math:`S` apart and the result is read every :math:`D`
  positions: stride and dilation swap roles.

With a padding mode other than zeros (reflect, replicate, circular) the
padding holds x's own entries, and the identities are those of the same
layer on the padded input :math:`x^{\\mathrm{pad}}` (no padding left), followed
by a fold: :math:`dx = \\operatorname{fold}(dx^{\\mathrm{pad}})`, the interior of
:math:`dx^{\\mathrm{pad}}` with each padded entry's gradient added onto the
entry of x it copies (:func:`padded_layer`, :func:`fold`).

The functions take arrays of any dtype: with SymPy elements they give the
sides as expressions, checked equal to the derivation entry by entry; with
floats, numbers to compare with the reference kernels and PyTorch.

>>> from symconv.spec.conv import conv_spec
>>> spec = conv_spec("conv1d", (1, 1, 5), (1, 1, 2), stride=2)
>>> output_padding(spec)
(1,)
>>> dx, dw, db = operator_gradients(spec, *symbolic_tensors(spec))
>>> dx[0, 0, 1], dx[0, 0, 4]
(dy[0, 0, 0]*w[0, 0, 1], 0)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sympy import expand

from symconv.symbolic.tensors import element


def output_padding(spec) -> tuple[int, ...]:
    """Per axis, the input rows after the last window: ``(H + P_b + P_a - D(K-1) - 1) mod S``."""
    return tuple(
        (h + lo + hi - d * (k - 1) - 1) % s
        for h, k, s, d, (lo, hi) in zip(spec.input[2:], spec.weight[2:], spec.stride, spec.dilation, spec.padding)
    )


def symbolic_tensors(spec):
    """``(dy, x, w)`` as object arrays of SymPy elements ``dy[n, f, i]``..."""
    return tuple(
        np.array([element(name, i) for i in np.ndindex(*shape)] + [None], dtype=object)[:-1].reshape(shape)
        for name, shape in (("dy", spec.output_shape), ("x", spec.input), ("w", spec.weight))
    )


def _zeros(shape, like):
    return np.zeros(shape, dtype=like.dtype) if like.dtype != object else np.full(shape, 0, dtype=object)


def spread_dy(spec, dy):
    r""":math:`\widetilde{dy}`: zeros between the entries (stride), shifted by :math:`D(K-1) - P_b`."""
    reach = [d * (k - 1) for d, k in zip(spec.dilation, spec.weight[2:])]
    out = _zeros(dy.shape[:2] + tuple(h + r for h, r in zip(spec.input[2:], reach)), dy)
    source, target = [slice(None)] * 2, [slice(None)] * 2
    for o, s, r, (lo, _), size in zip(spec.output_shape[2:], spec.stride, reach, spec.padding, out.shape[2:]):
        start = r - lo
        first = max(0, -(start // s))  # ceil(-start/s): the first output inside the array
        last = min(o - 1, (size - 1 - start) // s)
        source.append(slice(first, last + 1))
        target.append(slice(start + first * s, start + last * s + 1, s))
    out[tuple(target)] = dy[tuple(source)]
    return out


def rotate_w(spec, w):
    r""":math:`w^{\mathrm{rot}}`, shape ``(C, F/groups, *K)``: every spatial axis reversed, f and c swapped per group."""
    g = spec.groups
    f, cg = w.shape[:2]
    flipped = w[(slice(None), slice(None)) + (slice(None, None, -1),) * spec.ndim]
    grouped = flipped.reshape((g, f // g, cg) + w.shape[2:]).swapaxes(1, 2)
    return grouped.reshape((g * cg, f // g) + w.shape[2:])


def pad_x(spec, x):
    r""":math:`x^{\mathrm{pad}}`: ``P_b`` zeros in front, cut to the positions windows read."""
    read = [(o - 1) * s + d * (k - 1) + 1
            for o, s, d, k in zip(spec.output_shape[2:], spec.stride, spec.dilation, spec.weight[2:])]
    out = _zeros(x.shape[:2] + tuple(read), x)
    source, target = [slice(None)] * 2, [slice(None)] * 2
    for size, (lo, _), length in zip(x.shape[2:], spec.padding, read):
        source.append(slice(0, min(size, length - lo)))
        target.append(slice(lo, lo + min(size, length - lo)))
    out[tuple(target)] = x[tuple(source)]
    return out


def correlate(a, kernel, dilation, stride, out):
    """``r[b, o, p] = sum_{i, k} a[b, i, p*stride + k*dilation] * kernel[o, i, k]`` for every ``p < out``.

    One tensordot per kernel tap; works for float and for object (SymPy) arrays.
    """
    result = _zeros((a.shape[0], kernel.shape[0]) + tuple(out), a)
    for tap in np.ndindex(*kernel.shape[2:]):
        where = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, dilation, out, stride))
        window = a[(slice(None), slice(None)) + where]
        product = np.tensordot(window, kernel[(slice(None), slice(None)) + tap], axes=([1], [1]))
        result = result + np.moveaxis(product, -1, 1)
    return result


#: PyTorch's padding modes as ``np.pad`` names them: the operator side pads with NumPy's rules.
_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def padded_layer(spec):
    """The same layer on x already padded by its mode: no padding left, and zeros as the mode."""
    sizes = tuple(h + lo + hi for h, (lo, hi) in zip(spec.input[2:], spec.padding))
    return replace(spec, input=spec.input[:2] + sizes, padding=((0, 0),) * spec.ndim, padding_string=None,
                   padding_mode="zeros")


def pad_with_mode(spec, x):
    """:math:`x^{\\mathrm{pad}}`: x padded with its own entries by ``spec``'s mode."""
    return np.pad(x, ((0, 0), (0, 0)) + tuple(spec.padding), mode=_NUMPY_MODES[spec.padding_mode])


def fold(spec, dx_pad):
    """dx from the padded input's gradient: its interior, each padded entry added onto the one it copies."""
    for axis, (size, (lo, hi)) in enumerate(zip(spec.input[2:], spec.padding), start=2):
        copied = np.pad(np.arange(size), (lo, hi), mode=_NUMPY_MODES[spec.padding_mode])
        moved = np.moveaxis(dx_pad, axis, 0)
        folded = moved[lo:lo + size].copy()
        for position in [*range(lo), *range(lo + size, lo + size + hi)]:
            folded[copied[position]] = folded[copied[position]] + moved[position]
        dx_pad = np.moveaxis(folded, 0, axis)
    return dx_pad


def operator_gradients(spec, dy, x, w):
    """``(dx, dw, db)`` computed by the three operator identities, group by group (and a fold)."""
    if spec.padding_mode != "zeros":
        dx_pad, dw, db = operator_gradients(padded_layer(spec), dy, pad_with_mode(spec, x), w)
        return fold(spec, dx_pad), dw, db
    g, c, f = spec.groups, spec.input[1], spec.weight[0]
    cg, fg = c // g, f // g
    tilde, rot, padded = spread_dy(spec, dy), rotate_w(spec, w), pad_x(spec, x)
    ones = (1,) * spec.ndim
    dx_parts, dw_parts = [], []
    for group in range(g):
        fs, cs = slice(group * fg, (group + 1) * fg), slice(group * cg, (group + 1) * cg)
        dx_parts.append(correlate(tilde[:, fs], rot[cs], spec.dilation, ones, spec.input[2:]))
        # dw: the batch is the contracted channel; dy, taps S apart, is the kernel; read every D.
        dw_parts.append(correlate(padded[:, cs].swapaxes(0, 1), dy[:, fs].swapaxes(0, 1),
                                  spec.stride, spec.dilation, spec.weight[2:]).swapaxes(0, 1))
    db = dy.sum(axis=(0,) + tuple(range(2, 2 + spec.ndim)))
    return np.concatenate(dx_parts, axis=1), np.concatenate(dw_parts, axis=0), db


def check_identities(derivation) -> dict[str, bool]:
    """Whether each operator side equals the derivation's gradient, entry by entry, exactly."""
    spec = derivation.spec
    sides = dict(zip(("dx", "dw", "db"), operator_gradients(spec, *symbolic_tensors(spec))))
    return {
        name: all(expand(sides[name][index]) == expand(table[index]) for index in table)
        for name, table in derivation.gradients.items()
    }


def dy_placement(spec, index_base: int = 0) -> tuple[tuple[int, int], ...]:
    r"""Per axis ``(S, offset)``: entry :math:`i` of dy sits at :math:`S i + \text{offset}` in :math:`\widetilde{dy}`.

    Both counted from ``index_base``: 0-based the offset is :math:`D(K-1) - P_b`;
    counting from 1 shifts both positions by one, which adds :math:`1 - S`.

    >>> from symconv.spec.conv import conv_spec
    >>> spec = conv_spec("conv1d", (1, 1, 5), (1, 1, 2), stride=2)
    >>> dy_placement(spec), dy_placement(spec, 1)
    (((2, 1),), ((2, 0),))
    """
    return tuple((s, d * (k - 1) - lo + index_base * (1 - s))
                 for s, d, k, (lo, _) in zip(spec.stride, spec.dilation, spec.weight[2:], spec.padding))
