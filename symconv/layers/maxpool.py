r"""Max pooling, written so that differentiating it gives PyTorch's gradient, ties included.

Each output is

.. math::  y_o = \sum_{a \in W_o} x_a \, [x_a \text{ is the first maximum of } W_o]

where the indicator is a ``Piecewise`` whose condition says that ``x_a`` is
greater than every element before it in the window (row-major scan order)
and at least every element after it. Exactly one indicator per window is 1,
so ``y_o`` equals the maximum, and since an indicator is constant wherever it
is differentiable, ``d y_o / d x_a`` is the indicator itself: ``dy_o`` goes to
the first maximum, as PyTorch's CPU kernels send it. Padding is -inf and
never selected, so padded positions simply do not appear.

The forward is a :class:`~symconv.symbolic.terms.TermTable` like a
convolution's: each term is the pair (element, its window's indicator), the
indicators being one family of factors
(:class:`~symconv.symbolic.atoms.FirstMaximum`) whose values are computed
from x, so it is built, differentiated, evaluated and printed with arrays.

>>> from symconv.spec.pool import pool_spec
>>> y = maxpool_forward(pool_spec("maxpool1d", (1, 1, 2), kernel=2))
>>> y[(0, 0, 0)]
Piecewise((1, x[0, 0, 0] >= x[0, 0, 1]), (0, True))*x[0, 0, 0] + Piecewise((1, x[0, 0, 0] < x[0, 0, 1]), (0, True))*x[0, 0, 1]
>>> y.terms
2
"""

from __future__ import annotations

import numpy as np

from symconv.layers.pool_check import MAX_CHECK
from symconv.layers.rule import LayerRule, axes_text, input_only
from symconv.layers.windows import pool_details, pool_options, pool_reference, window_ids, winner_leads
from symconv.symbolic.atoms import FirstMaximum
from symconv.symbolic.space import NO_FACTOR, ElementSpace
from symconv.symbolic.terms import TermTable


def maxpool_forward(spec, input_name: str = "x", upstream: str = "dy") -> TermTable:
    """Every output of a max pooling layer: ``x_a * [x_a wins]`` per window element.

    ``upstream`` names the output's gradient, which the derivation's element
    space holds too. A window of one element needs no indicator.
    """
    shapes = {input_name: spec.input, upstream: spec.output_shape}
    windows = window_ids(spec, ElementSpace(shapes), input_name)
    maxima = FirstMaximum(windows)
    space = ElementSpace(shapes, [maxima])
    real = windows != NO_FACTOR
    w, j = np.nonzero(real)
    alone = real.sum(axis=1)[w] == 1
    indicator = np.where(alone, NO_FACTOR, space.family_of(maxima) + w * maxima.width + j)
    return TermTable(space, spec.output_shape, w, np.stack([windows[w, j], indicator], axis=1))


def _options(spec) -> dict:
    return dict(pool_options(spec), dilation=spec.dilation)


def _reference(spec, names, scale):
    from symconv import reference  # the kernels load when a check needs them, not with the rules

    return pool_reference(spec, names, scale, reference.max_pool_forward, reference.max_pool_backward, _options(spec))


def _details(spec) -> list[str]:
    parts = pool_details(spec)
    if any(d != 1 for d in spec.dilation):
        parts.append(f"dilation {axes_text(spec.dilation)}")
    if spec.ceil_mode:
        parts.append("ceil_mode")
    return parts


def _kinks(spec, x, origin):
    """Per window: the winner's lead over the best rival, and the winner's origin
    (:func:`~symconv.layers.windows.winner_leads`, on the windows' candidate positions)."""
    from symconv.reference.windows import window_candidates

    positions = window_candidates(np.arange(x.size, dtype=float).reshape(x.shape), spec.kernel, spec.stride,
                                  spec.padding, spec.dilation, spec.ceil_mode)
    real = positions > -np.inf
    flat = np.where(real, positions, 0).astype(np.intp)
    return winner_leads(flat, real, x, origin)


RULE = LayerRule(
    kinds=("maxpool1d", "maxpool2d", "maxpool3d"),
    forward=lambda spec, names: maxpool_forward(spec, names["x"], names.get("dy", "dy")),
    tensors=input_only,
    reference=_reference,
    smooth=False,
    details=_details,
    chain=lambda spec, tex: [(r"\partial " + tex["x"], r"\operatorname{maxunpool}(%s)" % tex["dy"])],
    kinks=_kinks,
    kink_site="window of {y}",
    winner=True,
    check=MAX_CHECK,
)
