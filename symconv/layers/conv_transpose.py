"""Transposed convolution (1-D, 2-D, 3-D): its forward as a table of products, reference, and words.

The forward is the layer's definition, the scatter: input entry ``i`` of
channel ``c`` adds ``x * w`` at every tap ``k`` to the output position
``o = iS - P + kD`` (PyTorch's ConvTranspose; weight ``(C_in, C_out/G, *K)``),
and only the positions inside the cropped output hold a term:

.. math::

    y_{n,\\, gC_{og} + f,\\, o} = b_{gC_{og} + f}
        + \\sum_{c, i, k \\,:\\, iS - P + kD = o} w_{gC_{ig} + c,\\, f,\\, k}\\; x_{n,\\, gC_{ig} + c,\\, i}.

The engine differentiates it like any sum of products; what comes out is
the seeds' relation read backwards: dx is a plain convolution of dy with w
(same stride, padding, dilation and groups), and dw the correlation of dy
with x.

>>> from symconv.spec.conv_transpose import conv_transpose_spec
>>> y = conv_transpose_forward(conv_transpose_spec("conv_transpose1d", (1, 1, 2), (1, 1, 2), stride=2))
>>> [y[(0, 0, o)] for o in range(4)]
[b[0] + w[0, 0, 0]*x[0, 0, 0], b[0] + w[0, 0, 1]*x[0, 0, 0], b[0] + w[0, 0, 0]*x[0, 0, 1], b[0] + w[0, 0, 1]*x[0, 0, 1]]
"""

from __future__ import annotations

import numpy as np

from symconv.layers.conv_transpose_check import CHECK
from symconv.layers.rule import LayerRule, axes_text, fresh_kinks, scaled
from symconv.names import CONV_TRANSPOSE_KINDS
from symconv.spec.conv_transpose import ConvTransposeSpec
from symconv.symbolic.terms import ElementSpace, TermTable, bias_terms

#: The tensor names of a lone layer; a stack renames them per layer (h1, w2, dh3...).
DEFAULT_NAMES = {"x": "x", "w": "w", "b": "b", "dy": "dy"}


def _axis_pairs(size, kernel, stride, dilation, padding, out):
    """For one spatial axis, the (input, tap, output position) triples that land inside y."""
    i = np.arange(size)[:, None]
    k = np.arange(kernel)[None, :]
    position = i * stride - padding + k * dilation
    inside = (position >= 0) & (position < out)
    i, k = np.broadcast_arrays(i, k)
    return i[inside], k[inside], position[inside]


def conv_transpose_forward(spec: ConvTransposeSpec, names=DEFAULT_NAMES) -> TermTable:
    """Every output of a transposed convolution as a sum of products ``w * x`` (+ ``b``).

    The terms are the Cartesian product of the batch, the input channels,
    the outputs of each channel's group and, per spatial axis, the (input,
    tap) pairs whose position lands inside the cropped output.
    """
    shapes = {names["x"]: spec.input, names["w"]: spec.weight}
    if spec.bias:
        shapes[names["b"]] = spec.bias_shape
    shapes[names["dy"]] = spec.output_shape
    space = ElementSpace(shapes)
    out = spec.output_shape
    per_group_in, per_group_out = spec.input[1] // spec.groups, spec.weight[1]
    axes = [_axis_pairs(h, k, s, d, p, o) for h, k, s, d, p, o in
            zip(spec.input[2:], spec.weight[2:], spec.stride, spec.dilation, spec.padding, out[2:])]
    grids = np.meshgrid(*(np.arange(len(a[0])) for a in axes), indexing="ij")
    picks = [grid.reshape(-1) for grid in grids]
    n, c, f, t = (a.reshape(-1) for a in np.meshgrid(
        np.arange(spec.input[0]), np.arange(spec.input[1]), np.arange(per_group_out), np.arange(len(picks[0])),
        indexing="ij"))
    inputs, taps, places = ([a[part][pick][t] for a, pick in zip(axes, picks)] for part in range(3))
    entry = np.ravel_multi_index((n, (c // per_group_in) * per_group_out + f) + tuple(places), out)
    w_ids = space.ids(names["w"], c, f, *taps)
    x_ids = space.ids(names["x"], n, c, *inputs)
    entries, factors = [entry], [np.stack([w_ids, x_ids], axis=1)]
    if spec.bias:
        bias_entries, bias_factors = bias_terms(space, names["b"], out)
        entries.append(bias_entries)
        factors.append(bias_factors)
    return TermTable(space, out, np.concatenate(entries), np.concatenate(factors))


def _tensors(spec, names) -> dict:
    return {names["x"]: spec.input, names["w"]: spec.weight, names["b"]: spec.bias_shape}


def _options(spec) -> dict:
    return dict(stride=spec.stride, padding=spec.padding, output_padding=spec.output_padding,
                dilation=spec.dilation, groups=spec.groups)


def _reference(spec, names, scale):
    # the kernels load when a check needs them, not with the rules (start-up)
    from symconv.reference.conv_transpose import conv_transpose_backward, conv_transpose_forward as reference_forward

    x, w, b, up = names["x"], names["w"], names["b"], "d" + names["y"]

    def forward(values):
        return reference_forward(values[x], values[w], values[b] if spec.bias else None, **_options(spec))

    def backward(values):
        dx, dw, db = conv_transpose_backward(values[up], values[x], values[w], **_options(spec))
        grads = {"d" + x: dx, "d" + w: dw} | ({"d" + b: db} if spec.bias else {})
        return {name: scaled(g, scale) for name, g in grads.items()}

    return forward, backward


def _details(spec) -> list[str]:
    parts = ["w " + "x".join(map(str, spec.weight)), f"stride {axes_text(spec.stride)}",
             f"padding {axes_text(spec.padding)}", f"output_padding {axes_text(spec.output_padding)}",
             f"dilation {axes_text(spec.dilation)}"]
    if spec.groups != 1:
        parts.append(f"groups {spec.groups}")
    if not spec.bias:
        parts.append("no bias")
    return parts


def _chain(spec, tex):
    """dx is a plain convolution of the upstream gradient with w; dw the correlation of it with x."""
    x, w, b, up = tex["x"], tex["w"], tex["b"], tex["dy"]
    rows = [(r"\partial " + x, r"\operatorname{conv}(%s, %s)" % (up, w)),
            (r"\partial " + w, r"%s \star %s" % (up, x))]
    if spec.bias:
        rows.append((r"\partial " + b, r"\textstyle\sum_{n,i,j} %s" % up))
    return rows


def _rule(kinds, forms) -> LayerRule:
    return LayerRule(kinds=kinds, forward=conv_transpose_forward, tensors=_tensors, reference=_reference,
                     smooth=True, details=_details, chain=_chain, kinks=fresh_kinks, forms=forms, check=CHECK,
                     operators="conv_transpose", weight_axes=("c", "f"))


#: Matrix pictures are drawn for one or two spatial axes; operator identities for every one.
RULE = _rule(tuple(k for k, nd in CONV_TRANSPOSE_KINDS.items() if nd <= 2), ("element", "operator", "matrix"))
RULE_3D = _rule(tuple(k for k, nd in CONV_TRANSPOSE_KINDS.items() if nd > 2), ("element", "operator"))
