"""Convolution (1-D, 2-D and 3-D): its forward as a table of products, reference, and words.

The engine differentiates the forward built here and never sees a gradient
formula.

For a convolution (cross-correlation, PyTorch's convention), with ``g`` the
group of filter ``f`` and ``C_g`` the channels per group,

.. math::

    y_{n,f,o} = b_f + \\sum_{c'=0}^{C_g-1} \\sum_{k}
        w_{f,c',k}\\, x^{\\mathrm{pad}}_{n,\\, gC_g + c',\\, oS - P + kD}

with one output index ``o`` and tap ``k`` per spatial axis. With zero
padding (``padding_mode='zeros'``) the sum runs over the taps whose input
position lies inside x: the padding contributes nothing, so it never
appears. With ``reflect``, ``replicate`` or ``circular`` every padded
position holds an entry of x itself (:func:`padded_source`), so every tap
reads x, and the engine's chain rule sends the gradient of each padded
entry back into the entry it copies.

>>> from symconv.spec.conv import conv_spec
>>> y = conv_forward(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
>>> y[(0, 0, 0)]
b[0] + w[0, 0, 0]*x[0, 0, 0] + w[0, 0, 1]*x[0, 0, 1]
>>> y.terms  # 3 outputs of 2 products each, and 3 bias terms
9
"""

from __future__ import annotations

import numpy as np

from symconv.symbolic.terms import ElementSpace, TermTable, bias_terms
from symconv.layers.conv_check import CHECK
from symconv.layers.rule import LayerRule, axes_text, fresh_kinks, scaled
from symconv.names import CONV_KINDS, FORMS, OUTPUT_LETTERS
from symconv.spec.conv import ConvSpec


#: The tensor names of a lone layer; a stack renames them per layer (h1, w2, dh3...).
DEFAULT_NAMES = {"x": "x", "w": "w", "b": "b", "dy": "dy"}


def conv_space(spec: ConvSpec, names=DEFAULT_NAMES) -> ElementSpace:
    """The elements a convolution's derivation speaks of: x, w, b and dy (by their ``names``)."""
    shapes = {names["x"]: spec.input, names["w"]: spec.weight}
    if spec.bias:
        shapes[names["b"]] = spec.bias_shape
    shapes[names["dy"]] = spec.output_shape
    return ElementSpace(shapes)


def padded_source(position, size: int, mode: str):
    """The entry of x (per axis) that each position of the padded input holds; -1 for a zero.

    Positions count in x's frame (``-P_b`` is the first padded one). PyTorch's
    rules: ``reflect`` mirrors about the edge without repeating it (position
    -1 holds x[1]), ``replicate`` repeats the edge, ``circular`` wraps around.
    The spec has already refused paddings these cannot fill from x.

    >>> padded_source(np.arange(-2, 5), 3, "reflect").tolist()
    [2, 1, 0, 1, 2, 1, 0]
    >>> padded_source(np.arange(-2, 5), 3, "circular").tolist()
    [1, 2, 0, 1, 2, 0, 1]
    """
    position = np.asarray(position)
    if mode == "reflect":
        last = size - 1
        return np.where(position < 0, -position, np.where(position > last, 2 * last - position, position))
    if mode == "replicate":
        return np.clip(position, 0, size - 1)
    if mode == "circular":
        return np.mod(position, size)
    return np.where((position >= 0) & (position < size), position, -1)


def _axis_pairs(out, size, kernel, stride, dilation, before, mode="zeros"):
    """For one spatial axis, the (output, tap, entry of x) triples whose tap reads x."""
    o = np.arange(out)[:, None]
    k = np.arange(kernel)[None, :]
    source = padded_source(o * stride - before + k * dilation, size, mode)
    inside = source >= 0
    o, k = np.broadcast_arrays(o, k)
    return o[inside], k[inside], source[inside]


def conv_forward(spec: ConvSpec, names=DEFAULT_NAMES) -> TermTable:
    """Every output element of a convolution as a sum of products ``w * x`` (+ ``b``).

    Built with array operations: the terms are the Cartesian product of the
    batch, the filters, the channels of the filter's group and, per spatial
    axis, the (output, tap) pairs that land inside the input.
    """
    space = conv_space(spec, names)
    out = spec.output_shape
    n_batch, filters, per_group = spec.input[0], spec.weight[0], spec.weight[1]
    axes = [
        _axis_pairs(o, h, k, s, d, lo, spec.padding_mode)
        for o, h, k, s, d, (lo, _) in zip(
            out[2:], spec.input[2:], spec.weight[2:], spec.stride, spec.dilation, spec.padding
        )
    ]
    # Cartesian product of the axes' pairs: one row per spatial (o, k, p).
    grids = np.meshgrid(*(np.arange(len(a[0])) for a in axes), indexing="ij")
    picks = [g.reshape(-1) for g in grids]
    o = [a[0][i] for a, i in zip(axes, picks)]
    k = [a[1][i] for a, i in zip(axes, picks)]
    p = [a[2][i] for a, i in zip(axes, picks)]
    n, f, cw, t = np.meshgrid(
        np.arange(n_batch), np.arange(filters), np.arange(per_group), np.arange(len(picks[0])),
        indexing="ij",
    )
    n, f, cw, t = (a.reshape(-1) for a in (n, f, cw, t))
    c = (f // (filters // spec.groups)) * per_group + cw
    entry = np.ravel_multi_index((n, f) + tuple(a[t] for a in o), out)
    w_ids = space.ids(names["w"], f, cw, *(a[t] for a in k))
    x_ids = space.ids(names["x"], n, c, *(a[t] for a in p))
    entries, factors = [entry], [np.stack([w_ids, x_ids], axis=1)]
    if spec.bias:
        bias_entries, bias_factors = bias_terms(space, names["b"], out)
        entries.append(bias_entries)
        factors.append(bias_factors)
    return TermTable(space, out, np.concatenate(entries), np.concatenate(factors))


def _tensors(spec, names) -> dict:
    return {names["x"]: spec.input, names["w"]: spec.weight, names["b"]: spec.bias_shape}


def _reference(spec, names, scale):
    from symconv import reference  # the kernels load when a check needs them, not with the rules

    options = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups,
                   padding_mode=spec.padding_mode)
    x, w, b, up = names["x"], names["w"], names["b"], "d" + names["y"]

    def forward(values):
        return reference.conv_forward(values[x], values[w], values[b] if spec.bias else None, **options)

    def backward(values):
        dx, dw, db = reference.conv_backward(values[up], values[x], values[w], **options)
        grads = {"d" + x: dx, "d" + w: dw, "d" + b: db} if spec.bias else {"d" + x: dx, "d" + w: dw}
        return {name: scaled(g, scale) for name, g in grads.items()}

    return forward, backward


def _details(spec) -> list[str]:
    pads = [f"{lo}" if lo == hi else f"{lo}/{hi}" for lo, hi in spec.padding]
    parts = [
        "w " + "x".join(map(str, spec.weight)),
        f"stride {axes_text(spec.stride)}",
        f"padding {spec.padding_string or axes_text(pads)}",
        f"dilation {axes_text(spec.dilation)}",
    ]
    if spec.padding_mode != "zeros":
        parts.insert(3, f"padding_mode {spec.padding_mode}")
    if spec.groups != 1:
        parts.append(f"groups {spec.groups}")
    if not spec.bias:
        parts.append("no bias")
    return parts


def _chain(spec, tex):
    """The backward as operators; with a padding mode other than zeros, x is padded with its own
    entries (``pad``) and the padded input's gradient folds back onto them (``fold``)."""
    x, w, b, up = tex["x"], tex["w"], tex["b"], tex["dy"]
    dx = r"\operatorname{rot180}(%s) \,\hat{*}\, %s" % (w, up)
    padded = x
    if spec.padding_mode != "zeros":
        mode = r"_{\mathrm{%s}}" % spec.padding_mode
        dx, padded = r"\operatorname{fold}%s(%s)" % (mode, dx), r"\operatorname{pad}%s(%s)" % (mode, x)
    rows = [(r"\partial " + x, dx), (r"\partial " + w, r"%s \star %s" % (padded, up))]
    if spec.bias:
        rows.append((r"\partial " + b, r"\textstyle\sum_{n,%s} %s" % (",".join(OUTPUT_LETTERS[spec.ndim]), up)))
    return rows


def _kind_forms(kind):
    """Matrix pictures are drawn in 1-D and 2-D: a 3-D layer's slices are not matrices."""
    return FORMS if CONV_KINDS[kind] <= 2 else tuple(form for form in FORMS if form != "matrix")


def _form_refusal(spec, form):
    """The matrix pictures draw a zero-padded x (the operator form writes a padding mode's fold)."""
    if form == "matrix" and spec.padding_mode != "zeros":
        return (f"padding-mode: got {spec.padding_mode} with --form matrix, expected zeros (the matrix pictures "
                f"draw a zero-padded x; --form operator writes the fold of the padded input's gradient)")
    return None


RULE = LayerRule(
    kinds=tuple(CONV_KINDS),
    forward=conv_forward,
    tensors=_tensors,
    reference=_reference,
    smooth=True,
    details=_details,
    chain=_chain,
    kinks=fresh_kinks,
    forms=FORMS,
    check=CHECK,
    kind_forms=_kind_forms,
    form_refusal=_form_refusal,
    operators="conv",
)
