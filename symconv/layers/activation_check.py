"""The activations' part of ``symconv check``: ``fn(dy, x)``, the mask at 0, an edge suite of shapes.

>>> from symconv.spec.activation import activation_spec
>>> [m.name for m in CHECK.mistakes(activation_spec("relu", (1, 1, 2)))]
['relu-at-zero']
"""

from __future__ import annotations

import numpy as np

from symconv.layers.checking import CheckRule, Mistake, no_cs231n


def _config(spec) -> dict:
    config = {"input": spec.input}
    if spec.kind == "leaky_relu":
        config["negative_slope"] = str(spec.negative_slope)
    return config


def _keywords(spec) -> dict:
    return {"negative_slope": float(spec.negative_slope)} if spec.kind == "leaky_relu" else {}


def _at_zero(spec):
    slope = float(spec.negative_slope)
    return lambda v: {"dx": v["dy"] * np.where(v["x"] >= 0, 1.0, slope)}


def _mistakes(spec):
    return (Mistake("relu-at-zero", f"the mask is x >= 0: at x = 0 PyTorch takes the derivative as "
                    f"{spec.negative_slope}, the slope below 0, not 1", (_at_zero(spec),)),)


#: Input shapes of the edge suites of the element-wise activations (smooth_check.py's too).
SHAPES = [(1, 1, 1), (1, 1, 5), (2, 3, 4), (4, 1, 7), (1, 8, 2), (3, 2, 1), (1, 1, 1, 1), (1, 1, 3, 3),
           (2, 2, 4, 4), (1, 3, 5, 2), (3, 1, 1, 6), (2, 4, 2, 2), (1, 1, 8, 8), (5, 1, 2, 3), (1, 6, 3, 1),
           (2, 1, 9), (1, 2, 16), (6, 1, 2), (1, 5, 5), (2, 2, 3, 5)]


def _edge_cases(kind):
    if kind == "relu":
        return [(f"input {'x'.join(map(str, s))}", {"input": s}) for s in SHAPES + [
            (1, 1, 32), (3, 3, 3, 3), (1, 1, 1, 12), (7, 1, 1), (1, 7, 1), (2, 2, 2, 2), (1, 2, 6, 6),
            (4, 4, 1), (1, 3, 7, 7), (8, 1, 2, 2)]]
    slopes = ["1/100", "1/10", "1/2", "2", "-1/5", "0"]
    return [(f"input {'x'.join(map(str, s))}, slope {slope}", {"input": s, "negative_slope": slope})
            for i, s in enumerate(SHAPES) for slope in (slopes[i % len(slopes)], slopes[(i + 3) % len(slopes)])]


CHECK = CheckRule(
    config=_config,
    keywords=_keywords,
    torch_keywords=_keywords,
    cs231n=lambda spec: no_cs231n(spec.kind, "the course's conv_param and pool_param conventions"),
    mistakes=_mistakes,
    edge_cases=_edge_cases,
)
