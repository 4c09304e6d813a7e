"""The values a check calls the user's function with, and how its answers are compared.

Four probes at the layer's sizes, each a dict of named float64 arrays
(``x``, ``w``, ``b``, ``dy``): two of random floats, one of small integers
(max-pool ties, ReLU inputs exactly 0), and one whose input is constant, so
that every window is one big tie. The comparison is element by element: an
entry is wrong when it is off by more than ``RTOL`` relative to the larger
of the right value and the gradient's largest entry on that probe.
"""

from __future__ import annotations

import numpy as np

from symconv.layers.checking import NAMES

#: An entry is wrong when ``|yours - right| > RTOL * max(|right|, max |right| over the gradient, noise floor)``.
RTOL = 1e-9


def shapes(spec, rule) -> dict:
    """``{"x": shape, "w": shape, ..., "dy": shape}`` of the layer's tensors (no absent bias)."""
    found = {name: shape for name, shape in rule.tensors(spec, NAMES).items() if shape is not None}
    found["dy"] = spec.output_shape
    return found


def draw(spec, rule, seed: int = 0) -> list[tuple[str, dict]]:
    """The probes, ``(name, values)``, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    sizes = shapes(spec, rule)

    def floats():
        return {name: rng.uniform(-1.0, 1.0, shape) for name, shape in sizes.items()}

    integers = {name: rng.integers(-2, 3, shape).astype(np.float64) for name, shape in sizes.items()}
    integers["x"].flat[0] = 0.0  # at least one exact zero, however small the input
    integers["dy"] = rng.choice([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0], size=sizes["dy"])
    tied = floats()
    tied["x"] = np.ones(sizes["x"])
    return [("random floats", floats()), ("random floats (second draw)", floats()),
            ("small integers", integers), ("constant input (every window tied)", tied)]


def wrong_mask(yours, right, floor: float = 0.0):
    """Entries of ``yours`` that differ from ``right`` beyond the tolerance (NaN is always wrong).

    ``floor`` raises the scale the tolerance is relative to, for a gradient
    that is a small difference of large terms (``rule.check.noise``): its
    round-off follows the terms, not the gradient.
    """
    scale = max(float(np.max(np.abs(right))) if right.size else 0.0, floor, np.finfo(float).tiny)
    tolerance = RTOL * np.maximum(np.abs(right), scale)
    with np.errstate(invalid="ignore"):
        return ~(np.abs(yours - right) <= tolerance)


def same(yours, right) -> bool:
    """``yours`` equals ``right`` entry by entry within the tolerance."""
    return yours.shape == right.shape and not wrong_mask(yours, right).any()
