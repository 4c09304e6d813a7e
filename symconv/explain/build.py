"""What :func:`symconv.explain.explain` does: refuse what it cannot explain, derive the steps, check them.

>>> build("relu", None, None, None, 0, False, 0)
Traceback (most recent call last):
...
symconv.errors.SymconvError: KIND: got 'relu', expected a kind explain derives: conv1d, conv2d, maxpool1d, maxpool2d, avgpool1d, avgpool2d
"""

from __future__ import annotations

from symconv.errors import SymconvError
from symconv.names import CONV_KINDS, EXPLAIN_KINDS

#: The gradients each kind has, by the name ``wrt`` gives them.
_GRADIENTS = {"x": "dx", "w": "dw", "b": "db"}


def _gradients(kind: str, spec, wrt: str) -> tuple[str, ...]:
    """The gradients to explain; a parameter the layer lacks is refused."""
    if kind not in CONV_KINDS and wrt in ("w", "b"):
        raise SymconvError(f"wrt: got {wrt!r} for {kind}, expected 'x' (a pool has no parameters)")
    if spec is not None and wrt == "b" and _tensors(spec)["b"] is None:
        raise SymconvError("wrt: got 'b' for a layer without a bias (--no-bias), expected 'x' or 'w'")
    if wrt != "all":
        return (_GRADIENTS[wrt],)
    return ("dx", "dw", "db") if kind in CONV_KINDS else ("dx",)


def _tensors(spec) -> dict:
    """``{"x": shape, "w": shape, "b": shape or None}``: what the layer's rule says it learns from."""
    from symconv.explain.families import NAMES
    from symconv.layers import rule_for

    return {"w": None, "b": None, **rule_for(spec).tensors(spec, NAMES)}


def gradient_shape(kind: str, spec, wrt: str | None) -> tuple[str, tuple[int, ...]]:
    """``("dx", shape)``: the gradient an entry of ``spec`` is taken from (``wrt`` x by default), checked."""
    if kind not in EXPLAIN_KINDS:
        raise SymconvError(f"KIND: got {kind!r}, expected a kind explain derives: {', '.join(EXPLAIN_KINDS)}")
    wrt = "x" if wrt is None else wrt
    if wrt == "all":
        raise SymconvError("wrt: got 'all' with --at, expected x, w or b (the gradient the entry belongs to)")
    (quantity,) = _gradients(kind, spec, wrt)
    return quantity, _tensors(spec)[quantity[1:]]


def _entry(spec, quantity: str, at) -> tuple[int, ...]:
    shape = _tensors(spec)[quantity[1:]]
    try:
        index = tuple(int(i) for i in at)
    except (TypeError, ValueError):
        raise SymconvError(f"at: got {at!r}, expected a tuple of integers, an index of {quantity}") from None
    if len(index) != len(shape) or any(not 0 <= i < s for i, s in zip(index, shape)):
        raise SymconvError(f"at: got {index}, expected a 0-based index inside {quantity} of shape "
                           f"{','.join(map(str, shape))}")
    return index


def build(kind: str, spec, at, wrt, index_base: int, check: bool, seed: int):
    """The explanation (see :func:`symconv.explain.explain`)."""
    if kind not in EXPLAIN_KINDS:
        raise SymconvError(f"KIND: got {kind!r}, expected a kind explain derives: {', '.join(EXPLAIN_KINDS)}")
    if index_base not in (0, 1):
        raise SymconvError(f"index_base: got {index_base!r}, expected 0 or 1")
    if spec is not None and at is None:
        raise SymconvError("at: got nothing, expected an entry of the gradient with the layer's sizes "
                           "(--at, e.g. --at 0,0,1,1)")
    if spec is None and at is not None:
        raise SymconvError(f"at: got {at!r} without the layer's sizes, expected --at only with --input and the "
                           "layer's options")
    from symconv.explain import WRT

    wrt = wrt if wrt is not None else ("all" if spec is None else "x")
    if wrt not in WRT:
        raise SymconvError(f"wrt: got {wrt!r}, expected one of {', '.join(WRT)}")
    if spec is not None and wrt == "all":
        raise SymconvError("wrt: got 'all' with --at, expected x, w or b (the gradient the entry belongs to)")
    gradients = _gradients(kind, spec, wrt)
    from symconv.explain.families import axes_of, size_values, spec_sizes
    from symconv.explain.model import Explanation

    axes = axes_of(kind)
    if spec is None:
        from symconv.explain.derivation import general_steps

        explanation = Explanation(kind, tuple(general_steps(kind, gradients, index_base)), axes, index_base)
        entry = None
    else:
        from symconv.explain.entry import entry_steps

        spec_sizes(kind, spec)  # refuses what the formulas do not cover (groups, ceil_mode, ...)
        (quantity,) = gradients
        entry = _entry(spec, quantity, at)
        steps = entry_steps(kind, spec, quantity, entry, index_base)
        explanation = Explanation(kind, tuple(steps), axes, index_base, spec, (quantity, entry),
                                  sizes=size_values(kind, spec))
    if not check:
        return explanation
    return explanation.checked(check_explanation(explanation, gradients, seed))


def check_explanation(explanation, gradients, seed: int = 0):
    """The report: the general steps at random layers, and, at an entry, each step at the layer's sizes."""
    from symconv.explain.check import CheckReport, check_at, check_general, describe_layers
    from symconv.explain.derivation import general_steps
    from symconv.explain.families import random_specs

    kind, axes = explanation.kind, explanation.axes
    general = general_steps(kind, gradients)
    checks = check_general(kind, general, axes, seed)
    if explanation.spec is not None:
        checks += check_at(kind, explanation.spec, explanation.steps, axes, seed)
    return CheckReport(kind, checks, describe_layers(random_specs(kind, seed=seed)))
