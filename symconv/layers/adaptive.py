r"""Adaptive pooling: max and average pools over PyTorch's adaptive windows.

An adaptive spec (:class:`symconv.spec.adaptive.AdaptivePoolSpec`) gives,
per axis, output ``i`` the input positions ``floor(iL/O) .. ceil((i+1)L/O) - 1``
through ``spec.windows(axis)``, and an average's divisor, the window's element
count, through ``spec.divisor(index)``. That is all the max- and
average-pool forward builders read, so the forwards here are theirs,
called on the adaptive spec: the max as the sum of each element times
"it is the window's first maximum" (PyTorch's tie rule), the average as the
window's sum over its count. The reference kernels are
:mod:`symconv.reference.adaptive`, written apart from both.

>>> from symconv.spec.adaptive import adaptive_pool_spec
>>> spec = adaptive_pool_spec("adaptive_avgpool1d", (1, 1, 3), 2)
>>> AVG_RULE.forward(spec, {"x": "x"})[(0, 0, 1)]
x[0, 0, 1]/2 + x[0, 0, 2]/2
"""

from __future__ import annotations

import numpy as np

from symconv.layers.adaptive_check import ADAPTIVE_AVG_CHECK, ADAPTIVE_MAX_CHECK, window_table
from symconv.layers.avgpool import avgpool_forward
from symconv.layers.maxpool import maxpool_forward
from symconv.layers.rule import CONSTANT, LayerRule, axes_text, input_only, moving_average_origins, scaled
from symconv.layers.windows import winner_leads


def _reference(forward_name, backward_name):
    """The rule's reference: the kernels of :mod:`symconv.reference` by these names, loaded when a check needs them."""
    def kernels(spec, names, scale):
        from symconv import reference

        forward, backward = getattr(reference, forward_name), getattr(reference, backward_name)
        x, up = names["x"], "d" + names["y"]
        return (
            lambda values: forward(values[x], spec.output_size),
            lambda values: {"d" + x: scaled(backward(values[up], values[x], spec.output_size), scale)},
        )
    return kernels


def _details(spec) -> list[str]:
    return [f"output size {axes_text(spec.output_size)}"]


def window_positions(spec):
    """Every window's flat indices into x, in row-major scan order: ``(flat, real)``,
    each shaped ``y.shape + (taps,)``, ``real`` False where a shorter window has no tap."""
    bounds = []
    for axis in range(spec.ndim):
        windows = spec.windows(axis)
        bounds.append((np.array([p[0] for _, p in windows]), np.array([p[-1] + 1 for _, p in windows])))
    return window_table(spec.input, bounds)


def _max_kinks(spec, x, origin):
    """Per adaptive window: the winner's lead over the best rival, and the winner's origin."""
    flat, real = window_positions(spec)
    return winner_leads(flat, real, x, origin)


def _avg_kinks(spec, x, origin):
    """No kink; an output stays constant when its whole window does, and is new otherwise."""
    from symconv import reference

    moving = reference.adaptive_avg_pool_forward((origin != CONSTANT).astype(float), spec.output_size)
    return None, moving_average_origins(moving, spec.output_shape)


MAX_RULE = LayerRule(
    kinds=("adaptive_maxpool1d", "adaptive_maxpool2d"),
    forward=lambda spec, names: maxpool_forward(spec, names["x"], names.get("dy", "dy")),
    tensors=input_only,
    reference=_reference("adaptive_max_pool_forward", "adaptive_max_pool_backward"),
    smooth=False,
    details=_details,
    chain=lambda spec, tex: [(r"\partial " + tex["x"], r"\operatorname{maxunpool}(%s)" % tex["dy"])],
    kinks=_max_kinks,
    kink_site="window of {y}",
    winner=True,
    check=ADAPTIVE_MAX_CHECK,
)

AVG_RULE = LayerRule(
    kinds=("adaptive_avgpool1d", "adaptive_avgpool2d", "adaptive_avgpool3d"),
    forward=lambda spec, names: avgpool_forward(spec, names["x"], names.get("dy", "dy")),
    tensors=input_only,
    reference=_reference("adaptive_avg_pool_forward", "adaptive_avg_pool_backward"),
    smooth=True,
    details=_details,
    chain=lambda spec, tex: [(r"\partial " + tex["x"], r"\operatorname{avgunpool}(%s)" % tex["dy"])],
    kinks=_avg_kinks,
    check=ADAPTIVE_AVG_CHECK,
)
