r"""A transposed convolution's gradients as whole-tensor operations, and its matrix pictures.

Per axis, with input size :math:`H`, kernel :math:`K`, stride :math:`S`,
padding :math:`P`, dilation :math:`D` and output size :math:`H_o`, the
derived gradients are three operations:

.. math::

    dx = \operatorname{conv}(dy, w;\ S, P, D, G) = dy^{\mathrm{pad}} \star^{D}_{S} w, \qquad
    dw = dy^{\mathrm{pad}} \star^{S}_{D} x, \qquad
    db_f = \sum_{n,o} dy_{n,f,o}.

* :math:`dy^{\mathrm{pad}}` is dy with :math:`P` zeros in front, over the
  :math:`(H-1)S + D(K-1) + 1` positions the inputs reach (an output_padding
  longer than P leaves dy's last entries unread);
* :math:`\star^{D}_{S}` slides w (its taps D apart) over it S positions at a
  time: dx is the plain convolution of dy with w, PyTorch's
  ``conv2d(dy, w, stride=S, padding=P, dilation=D, groups=G)`` with w as it
  is (its layout (C_in, C_out/G, *K) is a convolution's (out, in/G, *K)),
  cut to the input's size when an output_padding of at least S (allowed by
  the dilation) makes that convolution one entry longer;
* in dw, x is the kernel, its entries S apart, and only one result in D is kept.

The functions take arrays of any dtype (SymPy elements or numbers), as
:mod:`symconv.formula.operators` does for convolution, and the tests check
them equal to the derivation entry by entry.

>>> from symconv.spec.conv_transpose import conv_transpose_spec
>>> from symconv.formula.operators import symbolic_tensors
>>> spec = conv_transpose_spec("conv_transpose1d", (1, 1, 2), (1, 1, 2), stride=2)
>>> dx, dw, db = transpose_gradients(spec, *symbolic_tensors(spec))
>>> dx[0, 0, 1]
dy[0, 0, 2]*w[0, 0, 0] + dy[0, 0, 3]*w[0, 0, 1]
"""

from __future__ import annotations

import numpy as np
from sympy import Matrix, diff

from symconv.formula.matrix import check_picture_size, spread
from symconv.formula.operators import correlate, symbolic_tensors
from symconv.symbolic.tensors import element


def reach(spec) -> tuple[int, ...]:
    """Per axis, the positions of the full output the inputs reach: ``(H-1)S + D(K-1) + 1``."""
    return tuple((h - 1) * s + d * (k - 1) + 1
                 for h, k, s, d in zip(spec.input[2:], spec.weight[2:], spec.stride, spec.dilation))


def unread(spec) -> tuple[int, ...]:
    """Per axis, dy's last entries that no input reaches (an output_padding longer than the padding)."""
    return tuple(max(0, p + o - r) for p, o, r in zip(spec.padding, spec.output_shape[2:], reach(spec)))


def convolution_length(spec) -> tuple[int, ...]:
    """Per axis, the output size of ``conv(dy, w; S, P, D)``: H, or H + 1 when output_padding >= S."""
    return tuple((o + 2 * p - d * (k - 1) - 1) // s + 1 for o, p, d, k, s in
                 zip(spec.output_shape[2:], spec.padding, spec.dilation, spec.weight[2:], spec.stride))


def pad_dy(spec, dy):
    r""":math:`dy^{\mathrm{pad}}`: dy at offset P in zeros over the positions the inputs reach."""
    out = np.zeros(dy.shape[:2] + reach(spec), dtype=dy.dtype) if dy.dtype != object else \
        np.full(dy.shape[:2] + reach(spec), 0, dtype=object)
    source = (slice(None),) * 2 + tuple(slice(0, r - p) for r, p in zip(reach(spec), spec.padding))
    target = (slice(None),) * 2 + tuple(slice(p, p + min(o, r - p))
                                        for p, o, r in zip(spec.padding, spec.output_shape[2:], reach(spec)))
    out[target] = dy[source]
    return out


def transpose_gradients(spec, dy, x, w):
    """``(dx, dw, db)`` computed by the three identities, group by group."""
    g, c_group, f_group = spec.groups, spec.input[1] // spec.groups, spec.weight[1]
    padded = pad_dy(spec, dy)
    dx_parts, dw_parts = [], []
    for group in range(g):
        fs, cs = slice(group * f_group, (group + 1) * f_group), slice(group * c_group, (group + 1) * c_group)
        # dx: w[c, f, k] is the kernel (out c, in f), taps D apart, windows S apart.
        dx_parts.append(correlate(padded[:, fs], w[cs], spec.dilation, spec.stride, spec.input[2:]))
        # dw: the batch is the contracted channel; x, its entries S apart, is the kernel; read every D.
        dw_parts.append(correlate(padded[:, fs].swapaxes(0, 1), x[:, cs].swapaxes(0, 1),
                                  spec.stride, spec.dilation, spec.weight[2:]).swapaxes(0, 1))
    db = dy.sum(axis=(0,) + tuple(range(2, 2 + spec.ndim)))
    return np.concatenate(dx_parts, axis=1), np.concatenate(dw_parts, axis=0), db


# -- matrix pictures ---------------------------------------------------------


def slices(spec):
    """``(n, c, f)`` of every slice pictured: input channel c and output channel f in the same group."""
    per_group_c, per_group_f = spec.input[1] // spec.groups, spec.weight[1]
    return [(n, c, f) for n in range(spec.input[0]) for c in range(spec.input[1])
            for f in range(spec.out_channels) if c // per_group_c == f // per_group_f]


def pictures(spec):
    """The matrices of every slice: ``{(n, c, f): {"dy_pad": ..., "w": ..., "x": ...}}``.

    dx is ``dy_pad * w`` (w with its dilation's zeros) read every S; dw is
    ``dy_pad * x`` (x with its stride's zeros) read every D. All 2-D object
    arrays, 1-D layers as columns. Raises :class:`SymconvError` for a layer
    too large to draw.
    """
    dy, x, w = symbolic_tensors(spec)
    padded, spread_w, spread_x = pad_dy(spec, dy), spread(w, spec.dilation), spread(x, spec.stride)
    chosen = slices(spec)
    check_picture_size(spec, (padded, spread_w, spread_x), chosen)
    per_group = spec.weight[1]

    def column(a):
        return a.reshape(-1, 1) if a.ndim == 1 else a

    return {(n, c, f): {"dy_pad": column(padded[n, f]), "w": column(spread_w[c, f % per_group]),
                        "x": column(spread_x[n, c])} for n, c, f in chosen}


def jacobian(derivation, tensor: str, n: int, c: int, f: int) -> Matrix:
    """``dy_{n,f} / d tensor`` as a matrix (a 1-D layer), differentiated from the forward."""
    spec = derivation.spec
    if tensor == "x":
        columns = [element("x", (n, c, i)) for i in range(spec.input[2])]
    else:
        columns = [element("w", (c, f % spec.weight[1], k)) for k in range(spec.weight[2])]
    return Matrix([[diff(derivation.forward[(n, f, o)], a) for a in columns] for o in range(spec.output_shape[2])])
