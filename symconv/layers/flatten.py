r"""Flatten: ``N,C,... -> N,C*...`` in row-major order, as a table of single factors.

``y[n, k] = x[n, c, i, j]`` with ``k`` the row-major position of ``(c, i,
j)``, as ``torch.flatten(x, 1)``. Since both are row-major, the k-th
element of y is the k-th element of x: one term per output, one factor each.

>>> from symconv.spec.dense import flatten_spec
>>> flatten_forward(flatten_spec((1, 2, 2, 2)))[(0, 5)]
x[0, 1, 0, 1]
"""

from __future__ import annotations

import math

import numpy as np

from symconv.layers.dense_check import FLATTEN_CHECK
from symconv.layers.rule import LayerRule, input_only
from symconv.symbolic.terms import ElementSpace, TermTable

DEFAULT_NAMES = {"x": "x", "dy": "dy"}


def flatten_forward(spec, names=DEFAULT_NAMES) -> TermTable:
    """Every output as the one element of x it copies."""
    space = ElementSpace({names["x"]: spec.input, names["dy"]: spec.output_shape})
    every = np.arange(math.prod(spec.input))
    return TermTable(space, spec.output_shape, every, (space.offsets[names["x"]] + every)[:, None])


def _reference(spec, names, scale):
    from symconv import reference  # the kernels load when a check needs them, not with the rules

    x, up = names["x"], "d" + names["y"]

    def backward(values):
        gradient = reference.flatten_backward(values[up], spec.input)
        return {"d" + x: gradient * scale if gradient.dtype == object else gradient * float(scale)}

    return (lambda values: reference.flatten_forward(values[x])), backward


def _chain(spec, tex):
    shape = r"\times".join(map(str, spec.input))
    return [(r"\partial " + tex["x"], r"\operatorname{reshape}_{%s}(%s)" % (shape, tex["dy"]))]


def _kinks(spec, x, origin):
    """No kink; each element has the origin of the element it copies."""
    return None, origin.reshape(spec.output_shape)


RULE = LayerRule(
    kinds=("flatten",),
    forward=flatten_forward,
    tensors=input_only,
    reference=_reference,
    smooth=True,
    details=lambda spec: ["output " + "x".join(map(str, spec.output_shape))],
    chain=_chain,
    kinks=_kinks,
    check=FLATTEN_CHECK,
)
