r"""Average pooling: ``y_o = (1/divisor) * sum`` of the window's in-bounds x.

The divisor follows PyTorch: the window clipped to the padded input
(``count_include_pad``), the in-bounds count, or ``divisor_override``.

>>> from symconv.spec.pool import pool_spec
>>> avgpool_forward(pool_spec("avgpool1d", (1, 1, 2), kernel=2))[(0, 0, 0)]
x[0, 0, 0]/2 + x[0, 0, 1]/2
"""

from __future__ import annotations

from sympy import Add, Mul, Rational

from symconv import reference
from symconv.symbolic.tensors import indices
from symconv.layers.pool_check import AVG_CHECK
from symconv.layers.rule import LayerRule, input_only
from symconv.layers.windows import pool_details, pool_options, pool_reference, window_elements


def avgpool_forward(spec, input_name: str = "x") -> dict:
    """Every output of an average pooling layer, keyed by index."""
    return {index: Mul(Rational(1, spec.divisor(index)), Add(*window_elements(spec, index, input_name)))
            for index in indices(spec.output_shape)}


def _options(spec) -> dict:
    return dict(pool_options(spec), count_include_pad=spec.count_include_pad,
                divisor_override=spec.divisor_override)


def _reference(spec, names, scale):
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


def _kinks(spec, x, constant):
    """No kink; an output stays constant when its whole window does."""
    moving = reference.avg_pool_forward((~constant).astype(float), spec.kernel, **_options(spec))
    return None, moving == 0


RULE = LayerRule(
    kinds=("avgpool1d", "avgpool2d", "avgpool3d"),
    forward=lambda spec, names: avgpool_forward(spec, names["x"]),
    tensors=input_only,
    reference=_reference,
    smooth=True,
    details=_details,
    chain=lambda spec, tex: [(r"\partial " + tex["x"], r"\operatorname{avgunpool}(%s)" % tex["dy"])],
    kinks=_kinks,
    check=AVG_CHECK,
)
