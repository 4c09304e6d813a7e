"""Presentation: turn a derivation into titled sections of equations.

A presentation decides *what* is shown (which equations, in which order,
under which titles); the printers in :mod:`symconv.printing.latex` and
:mod:`symconv.printing.formats` decide *how* it is written.

The element-wise presentation lists the forward ``y = ...`` and then one
equation per entry of dx, dw and db, zeros included, in row-major order.
"""

from __future__ import annotations

from dataclasses import dataclass

from symconv.errors import SymconvError
from symconv.layers import RULES, rule_for

#: Leading axes that are batch/channel/filter axes, per tensor name: these are
#: dropped from compact subscripts when they are all of size 1.
LEADING_AXES = {"x": 2, "y": 2, "dy": 2, "dx": 2, "w": 2, "dw": 2, "b": 1, "db": 1, "m": 2, "h": 2, "dh": 2}

#: Order in which factors drive the sorting of a sum's terms for display:
#: gradients read by dy index (as the seeds write them), the forward by w.
DISPLAY_PRIORITY = {"dy": 0, "w": 1, "x": 2, "b": 3}


def split_name(name: str) -> tuple[str, str]:
    """``'dw12'`` -> ``('dw', '12')``: a stack numbers its layers' tensors."""
    stem = name.rstrip("0123456789")
    return stem, name[len(stem):]


@dataclass(frozen=True)
class IndexStyle:
    """How element subscripts are shown: 0- or 1-based, compact or with commas.

    Compact subscripts (``x_{11}``) drop the trivial batch/channel axes and
    concatenate the rest; they are used only when that is unambiguous.
    """

    base: int = 0
    compact: bool = False

    def shown(self, name: str, index) -> tuple[int, ...]:
        shifted = tuple(int(i) + self.base for i in index)
        if self.compact:
            return shifted[LEADING_AXES.get(split_name(name)[0], 0):]
        return shifted


def choose_style(spec, index_base: int = 0) -> IndexStyle:
    """Compact subscripts when N = C = 1, y has one channel, w's two leading axes are 1 and every index is one digit."""
    layers = spec.layers if spec.is_stack else (spec,)
    trivial, sizes = True, ()
    for layer in layers:
        weight = layer.weight if "w" in layer.parameters else (1, 1)
        trivial &= layer.input[0] == 1 and layer.input[1] == 1 and weight[0] == weight[1] == 1
        trivial &= layer.output_shape[1] == 1
        sizes += layer.input[2:] + weight[2:] + layer.output_shape[2:]
    single_digit = max(sizes) - 1 + index_base <= 9
    return IndexStyle(base=index_base, compact=trivial and single_digit)


def _priority(name: str) -> int:
    stem = split_name(name)[0]
    if stem.startswith("d"):
        return DISPLAY_PRIORITY["dy"]  # any upstream gradient: dy, dh3
    return DISPLAY_PRIORITY.get(stem, DISPLAY_PRIORITY["x"] if stem == "h" else 9)


def display_key(term):
    """Sort key putting a sum's terms in the order a person writes them."""
    from sympy import Indexed, Mul

    key = []
    for factor in Mul.make_args(term):
        if isinstance(factor, Indexed):
            name = factor.base.name
            key.append((_priority(name), name, tuple(int(i) for i in factor.indices)))
    return tuple(sorted(key)) or ((99, "", ()),)


def indicator_parts(factor):
    """``(condition, winner)`` if ``factor`` is ``Piecewise((1, cond), (0, True))``.

    ``winner`` is the element on the greater side of every comparison in the
    condition (max pooling's first-maximum indicator), or None (e.g. ReLU's
    ``x > 0``, where the other side is a number).
    """
    from sympy import And, Indexed, Piecewise, true
    from sympy.core.relational import GreaterThan, LessThan, StrictGreaterThan, StrictLessThan

    if not isinstance(factor, Piecewise) or len(factor.args) != 2:
        return None
    (one, condition), (zero, otherwise) = factor.args
    if one != 1 or zero != 0 or otherwise is not true:
        return None
    greater = set()
    for comparison in And.make_args(condition):
        if not (isinstance(comparison.lhs, Indexed) and isinstance(comparison.rhs, Indexed)):
            return condition, None  # e.g. ReLU's x > 0: not a contest between elements
        if isinstance(comparison, (StrictGreaterThan, GreaterThan)):
            greater.add(comparison.lhs)
        elif isinstance(comparison, (StrictLessThan, LessThan)):
            greater.add(comparison.rhs)
        else:
            return condition, None
    winner = greater.pop() if len(greater) == 1 else None
    return condition, (winner if isinstance(winner, Indexed) and winner.base.name != "y" else None)


def upstream_element(factors):
    """The one upstream-gradient element (``dy[...]``, ``dh2[...]``) among factors, or None."""
    from sympy import Indexed

    found = [f for f in factors if isinstance(f, Indexed) and f.base.name.startswith("d")]
    return found[0] if len(found) == 1 else None


def relu_input(expr):
    """``z`` if ``expr`` is ReLU's ``Piecewise((z, z > 0), (0, True))``."""
    from sympy import Piecewise, StrictGreaterThan, true

    if isinstance(expr, Piecewise) and len(expr.args) == 2:
        (value, condition), (zero, otherwise) = expr.args
        if zero == 0 and otherwise is true and condition == StrictGreaterThan(value, 0):
            return value
    return None


def window_maximum(expr):
    """The window's elements if ``expr`` is max pooling's ``sum_a x_a [x_a wins]``."""
    from sympy import Add, Indexed, Mul

    elements = []
    for term in Add.make_args(expr):
        factors = Mul.make_args(term)
        plain = [f for f in factors if isinstance(f, Indexed)]
        rest = [f for f in factors if not isinstance(f, Indexed)]
        if len(plain) != 1 or len(rest) != 1:
            return None
        parts = indicator_parts(rest[0])
        if parts is None or parts[1] != plain[0]:
            return None
        elements.append(plain[0])
    return sorted(elements, key=lambda e: tuple(int(i) for i in e.indices)) if len(elements) > 1 else None


def display_rank(space):
    """Rank of each element of a TermTable's space in :func:`display_key` order."""
    import numpy as np

    priority = np.array([_priority(name) for name in space.names])
    owners = space.owner(np.arange(space.size))
    return priority[owners] * space.size + np.arange(space.size)


@dataclass(frozen=True)
class Section:
    """A titled block of equations: ``lhs[index] = table[index]`` for every index.

    ``table`` maps each index to its right-hand side (a TermTable or a dict of
    SymPy expressions); ``lhs`` names the left-hand tensor ('y', 'dx', ...).
    """

    name: str  # 'forward', 'dx', 'dw', 'db'
    title: str
    lhs: str
    table: object


@dataclass(frozen=True)
class Notes:
    """What a document must explain besides dy, decided once for every writer.

    ``winner``: a lone max pool's gradient goes to each window's winner m;
    ``stack_winners``: a stack holds a max pool (winners m, m^(l), ...);
    ``mean_over``: the batch size N when the loss is the mean, else None.
    """

    winner: bool
    stack_winners: bool
    mean_over: int | None


def notes(derivation) -> Notes:
    spec = derivation.spec
    layers = spec.layers if spec.is_stack else (spec,)
    pooled = any(rule_for(layer).winner for layer in layers)
    return Notes(winner=pooled and not spec.is_stack, stack_winners=pooled and spec.is_stack,
                 mean_over=spec.input[0] if derivation.reduction == "mean" else None)


def check_form(derivation, form: str) -> None:
    """Refuse a form (operator identities, matrix pictures) that the derivation's layer does not have."""
    if derivation.is_stack or form not in rule_for(derivation.spec).forms_of(derivation.spec.kind):
        having = [kind for kind, rule in RULES.items() if form in rule.forms_of(kind)]
        having = ", ".join(having[:-1]) + " or " + having[-1] if len(having) > 1 else having[0]
        raise SymconvError(f"layer: got {derivation.spec.kind}, expected {having} for --form {form}")
    refusal = rule_for(derivation.spec).form_refusal(derivation.spec, form)
    if refusal is not None:
        raise SymconvError(refusal)


def describe(spec) -> str:
    """One line saying which layer this is, for titles and headers."""
    shape = "x " + "x".join(map(str, spec.input))
    if spec.is_stack:
        parts = []
        for layer in spec.layers:
            details = describe(layer).split(": ", 1)[1].split(", ")[1:]  # drop "x NxCxHxW"
            parts.append(layer.kind + (" (" + ", ".join(details) + ")" if details else ""))
        return f"stack on {shape}: " + " | ".join(parts)
    return f"{spec.kind}: " + ", ".join([shape] + rule_for(spec).details(spec))


_TITLES = {
    "forward": "Forward",
    "dx": "Gradient with respect to the input x",
    "dw": "Gradient with respect to the weights w",
    "db": "Gradient with respect to the bias b",
}


def _stack_sections(derivation):
    """Forward layer by layer, then the gradients from the last layer back (seed 004's chain)."""
    sections = []
    for position, (layer, names, table) in enumerate(
        zip(derivation.spec.layers, derivation.names, derivation.forward), start=1
    ):
        title = f"Layer {position} ({layer.kind}): forward, {names['y']} from {names['x']}"
        sections.append(Section("forward", title, names["y"], table))
    for position in range(len(derivation.names), 0, -1):
        layer, names = derivation.spec.layers[position - 1], derivation.names[position - 1]
        for name, table in derivation.gradients[position - 1].items():
            title = f"Layer {position} ({layer.kind}): gradient with respect to {name[1:]}, from d{names['y']}"
            sections.append(Section(name, title, name, table))
    return sections


def element_sections(derivation, progress=None):
    """Forward and every gradient entry, element by element, section by section.

    ``progress``, if given, is called once after each section has been used,
    so a caller can show how far a long printing job has come.
    """
    if derivation.is_stack:
        sections = _stack_sections(derivation)
    else:
        sections = [Section("forward", _TITLES["forward"], "y", derivation.forward)]
        for name, table in derivation.gradients.items():
            sections.append(Section(name, _TITLES[name], name, table))
    for section in sections:
        yield section
        if progress is not None:
            progress()
