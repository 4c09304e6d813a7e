"""Sigmoid's and tanh's part of ``symconv check``: ``fn(dy, x)`` returns dx.

Their own mistakes, each computed from the definition in NumPy:

* ``derivative-at-input``: the derivative's formula with x where the
  output belongs: ``dy x (1 - x)`` for ``dy s (1 - s)``, ``dy (1 - x^2)`` for
  ``dy (1 - tanh(x)^2)`` (the formula is written in terms of the output, as
  the forward pass keeps it);
* ``upstream-ignored``: the local derivative alone, not times dy;
* ``square-missing`` (tanh): ``dy (1 - tanh(x))``.

>>> from symconv.spec.activation import activation_spec
>>> [m.name for m in CHECK.mistakes(activation_spec("tanh", (1, 1, 2)))]
['derivative-at-input', 'upstream-ignored', 'square-missing']
"""

from __future__ import annotations

from symconv.layers.activation_check import SHAPES
from symconv.layers.checking import CheckRule, Mistake, no_cs231n


#: Per kind: the derivative from the output, the reference forward's name, and the words.
_DERIVATIVES = {
    "sigmoid": (lambda out: out * (1.0 - out), "sigmoid_forward", "x (1 - x) for s (1 - s), s = sigmoid(x)"),
    "tanh": (lambda out: 1.0 - out * out, "tanh_forward", "1 - x^2 for 1 - t^2, t = tanh(x)"),
}


def _mistakes(spec):
    from symconv import reference  # the kernels load when a check runs, not with the rules

    derivative, name, words = _DERIVATIVES[spec.kind]
    forward = getattr(reference, name)
    found = (
        Mistake("derivative-at-input", f"the derivative is taken at the input instead of the output: {words}",
                (lambda v: {"dx": v["dy"] * derivative(v["x"])},)),
        Mistake("upstream-ignored", "dx is the local derivative alone: it must be multiplied by dy",
                (lambda v: {"dx": derivative(forward(v["x"]))},)),
    )
    if spec.kind == "tanh":
        found += (Mistake("square-missing", "the derivative is 1 - tanh(x), not 1 - tanh(x)^2",
                          (lambda v: {"dx": v["dy"] * (1.0 - forward(v["x"]))},)),)
    return found


_MORE_SHAPES = [(1, 1, 32), (3, 3, 3, 3), (1, 1, 1, 12), (7, 1, 1), (1, 7, 1), (2, 2, 2, 2), (1, 2, 6, 6),
                (4, 4, 1), (1, 3, 7, 7), (8, 1, 2, 2)]


CHECK = CheckRule(
    config=lambda spec: {"input": spec.input},
    keywords=lambda spec: {},
    torch_keywords=lambda spec: {},
    cs231n=lambda spec: no_cs231n(spec.kind, "symconv knows the course's convention for its conv and pool layers"),
    mistakes=_mistakes,
    edge_cases=lambda kind: [(f"input {'x'.join(map(str, s))}", {"input": s}) for s in SHAPES + _MORE_SHAPES],
)
