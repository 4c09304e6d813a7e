r"""Average pooling: ``y_o = (1/divisor) * sum`` of the window's in-bounds x.

The divisor follows PyTorch: the window clipped to the padded input
(``count_include_pad``), the in-bounds count, or ``divisor_override``.

>>> from symconv.spec.pool import pool_spec
>>> avgpool_forward(pool_spec("avgpool1d", (1, 1, 2), kernel=2))[(0, 0, 0)]
x[0, 0, 0]/2 + x[0, 0, 1]/2
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from symconv.layers.pool_check import AVG_CHECK
from symconv.layers.rule import CONSTANT, LayerRule, input_only, moving_average_origins
from symconv.layers.windows import pool_details, pool_options, pool_reference, window_ids
from symconv.symbolic.space import NO_FACTOR, ElementSpace
from symconv.symbolic.terms import TermTable


def avgpool_forward(spec, input_name: str = "x", upstream: str = "dy") -> TermTable:
    """Every output of an average pooling layer: ``x_a * (1/divisor)`` per window element.

    The 1/divisor is a constant factor of the table (none when it is 1);
    ``upstream`` names the output's gradient, which the space holds too.
    """
    shapes = {input_name: spec.input, upstream: spec.output_shape}
    windows = window_ids(spec, ElementSpace(shapes), input_name)
    divisors = np.array([spec.divisor((0, 0) + o) for o in np.ndindex(*spec.output_shape[2:])], dtype=np.int64)
    divisors = np.tile(divisors, math.prod(spec.output_shape[:2]))
    distinct = sorted(set(divisors.tolist()) - {1})
    space = ElementSpace(shapes, constants=[Fraction(1, d) for d in distinct])
    w, j = np.nonzero(windows != NO_FACTOR)
    lookup = {d: space.constant_id(Fraction(1, d)) for d in distinct}
    constant = np.array([lookup.get(d, NO_FACTOR) for d in divisors.tolist()], dtype=np.int64)
    return TermTable(space, spec.output_shape, w, np.stack([windows[w, j], constant[w]], axis=1))


def _options(spec) -> dict:
    return dict(pool_options(spec), count_include_pad=spec.count_include_pad,
                divisor_override=spec.divisor_override)


def _reference(spec, names, scale):
    from symconv import reference  # the kernels load when a check needs them, not with the rules

    return pool_reference(spec, names, scale, reference.avg_pool_forward, reference.avg_pool_backward, _options(spec))


def _details(spec) -> list[str]:
    parts = pool_details(spec)
    if spec.ceil_mode:
        parts.append("ceil_mode")
    if not spec.count_include_pad:
        parts.append("count_include_pad off")
    if spec.divisor_override is not None:
        parts.append(f"divisor {spec.divisor_override}")
    return parts


def _kinks(spec, x, origin):
    """No kink; an output stays constant when its whole window does, and is new otherwise."""
    from symconv import reference

    moving = reference.avg_pool_forward((origin != CONSTANT).astype(float), spec.kernel, **_options(spec))
    return None, moving_average_origins(moving, spec.output_shape)


RULE = LayerRule(
    kinds=("avgpool1d", "avgpool2d", "avgpool3d"),
    forward=lambda spec, names: avgpool_forward(spec, names["x"], names.get("dy", "dy")),
    tensors=input_only,
    reference=_reference,
    smooth=True,
    details=_details,
    chain=lambda spec, tex: [(r"\partial " + tex["x"], r"\operatorname{avgunpool}(%s)" % tex["dy"])],
    kinks=_kinks,
    check=AVG_CHECK,
)
