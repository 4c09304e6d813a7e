r"""The fully connected layer: its forward as a table of products, reference, and words.

.. math::  y_{n,o} = b_o + \sum_{i=0}^{IN-1} w_{o,i}\, x_{n,i}

with the weight in PyTorch's layout ``OUT,IN``. The forward is a
:class:`~symconv.symbolic.terms.TermTable`, so the engine differentiates it
all at once, by the same vectorized product rule as a convolution.

>>> from symconv.spec.dense import linear_spec
>>> y = linear_forward(linear_spec((1, 2), (3, 2)))
>>> y[(0, 1)]
b[1] + w[1, 0]*x[0, 0] + w[1, 1]*x[0, 1]
>>> y.terms  # 3 outputs of 2 products each, and 3 bias terms
9
"""

from __future__ import annotations

import numpy as np

from symconv.layers.dense_check import LINEAR_CHECK
from symconv.layers.rule import LayerRule, fresh_kinks, scaled
from symconv.symbolic.terms import ElementSpace, TermTable, bias_terms

DEFAULT_NAMES = {"x": "x", "w": "w", "b": "b", "dy": "dy"}


def linear_forward(spec, names=DEFAULT_NAMES) -> TermTable:
    """Every output ``y[n, o]`` as ``sum_i w[o, i] * x[n, i]`` (+ ``b[o]``), built with array operations."""
    shapes = {names["x"]: spec.input, names["w"]: spec.weight}
    if spec.bias:
        shapes[names["b"]] = spec.bias_shape
    shapes[names["dy"]] = spec.output_shape
    space = ElementSpace(shapes)
    (batch, size), out = spec.input, spec.weight[0]
    n, o, i = (a.reshape(-1) for a in np.meshgrid(np.arange(batch), np.arange(out), np.arange(size), indexing="ij"))
    entries = [n * out + o]
    factors = [np.stack([space.ids(names["w"], o, i), space.ids(names["x"], n, i)], axis=1)]
    if spec.bias:
        bias_entries, bias_factors = bias_terms(space, names["b"], spec.output_shape)
        entries.append(bias_entries)
        factors.append(bias_factors)
    return TermTable(space, spec.output_shape, np.concatenate(entries), np.concatenate(factors))


def _tensors(spec, names) -> dict:
    return {names["x"]: spec.input, names["w"]: spec.weight, names["b"]: spec.bias_shape}


def _reference(spec, names, scale):
    from symconv import reference  # the kernels load when a check needs them, not with the rules

    x, w, b, up = names["x"], names["w"], names["b"], "d" + names["y"]

    def forward(values):
        return reference.linear_forward(values[x], values[w], values[b] if spec.bias else None)

    def backward(values):
        dx, dw, db = reference.linear_backward(values[up], values[x], values[w])
        grads = {"d" + x: dx, "d" + w: dw, "d" + b: db} if spec.bias else {"d" + x: dx, "d" + w: dw}
        return {name: scaled(g, scale) for name, g in grads.items()}

    return forward, backward


def _details(spec) -> list[str]:
    return ["w " + "x".join(map(str, spec.weight))] + ([] if spec.bias else ["no bias"])


def _chain(spec, tex):
    x, w, b, up = tex["x"], tex["w"], tex["b"], tex["dy"]
    rows = [(r"\partial " + x, r"%s\, %s" % (up, w)), (r"\partial " + w, r"{%s}^{\top} %s" % (up, x))]
    if spec.bias:
        rows.append((r"\partial " + b, r"\textstyle\sum_{n} %s" % up))
    return rows


RULE = LayerRule(
    kinds=("linear",),
    forward=linear_forward,
    tensors=_tensors,
    reference=_reference,
    smooth=True,
    details=_details,
    chain=_chain,
    kinks=fresh_kinks,
    check=LINEAR_CHECK,
)
