"""Presentation: turn a derivation into titled sections of equations.

A presentation decides *what* is shown (which equations, in which order,
under which titles); the printers in :mod:`symconv.printing.latex` and
:mod:`symconv.printing.formats` decide *how* it is written.

The element-wise presentation lists the forward ``y = ...`` and then one
equation per entry of dx, dw and db, zeros included, in row-major order.
With a derived loss (mse, cross-entropy), dy = dL/dy comes first among the
gradients, as the chain starts from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from symconv.errors import SymconvError
from symconv.layers import RULES, rule_for
from symconv.layers.loss import loss_rule_for

#: Leading axes that are batch/channel/filter axes, per tensor name: these are
#: dropped from compact subscripts when they are all of size 1.
LEADING_AXES = {"x": 2, "y": 2, "dy": 2, "dx": 2, "w": 2, "dw": 2, "b": 1, "db": 1, "m": 2, "h": 2, "dh": 2,
                "mu": 1, "var": 1, "xhat": 2, "t": 2}

#: Order in which factors drive the sorting of a sum's terms for display:
#: gradients read by dy index (as the seeds write them), the forward by w;
#: a loss's dy by y, then its target t.
DISPLAY_PRIORITY = {"dy": 0, "w": 1, "x": 2, "b": 3, "y": 4, "t": 5}
#: Where a term with no tensor element of its own sorts: a softmax (NONE)
#: before a label's indicator [t_n = k] (LABEL).
NONE, LABEL = 99, 100


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
    """Compact subscripts when N = C = 1, y has one channel, w's two leading axes are 1 and every index is one digit.

    Never for a layer whose tensors have no spatial axis (a linear layer's
    N,IN, a flatten's output, a batch norm's weight): dropping N and C would
    leave them no index at all.
    """
    layers = spec.layers if spec.is_stack else (spec,)
    trivial, sizes = True, ()
    for layer in layers:
        weight = layer.weight if "w" in layer.parameters else (1, 1, 1)
        trivial &= (min(len(layer.input), len(layer.output_shape), len(weight)) > 2
                    and layer.input[0] == 1 and layer.input[1] == 1 and weight[0] == weight[1] == 1
                    and layer.output_shape[1] == 1)
        sizes += layer.input[2:] + weight[2:] + layer.output_shape[2:]
    single_digit = max(sizes, default=1) - 1 + index_base <= 9
    return IndexStyle(base=index_base, compact=trivial and single_digit)


def _priority(name: str) -> int:
    stem = split_name(name)[0]
    if stem in ("dw", "db"):
        return DISPLAY_PRIORITY["b"] + 1  # a parameter's gradient, which a batch norm's dx reads
    if stem.startswith("d"):
        return DISPLAY_PRIORITY["dy"]  # any upstream gradient: dy, dh3
    return DISPLAY_PRIORITY.get(stem, DISPLAY_PRIORITY["x"] if stem == "h" else 9)


def display_key(term):
    """Sort key putting a sum's terms in the order a person writes them."""
    from sympy import Indexed, KroneckerDelta, Mul, Pow

    key = []
    for factor in Mul.make_args(term):
        # The elements of a power, (x_3 - mu)^2, order it as the elements themselves would.
        elements = [factor] if isinstance(factor, Indexed) else (
            sorted(factor.base.atoms(Indexed), key=str) if isinstance(factor, Pow) else [])
        for element in elements:
            name = element.base.name
            key.append((_priority(name), name, tuple(int(i) for i in element.indices)))
    if not key and any(isinstance(f, KroneckerDelta) for f in Mul.make_args(term)):
        return ((LABEL, "", ()),)
    return tuple(sorted(key)) or ((NONE, "", ()),)


def softmax_parts(term):
    """``(coefficient, logit, row)`` if ``term`` is ``c * exp(y[n, k]) / sum_j exp(y[n, j])``, else None.

    ``row`` is the row's elements ``y[n, 0], ..., y[n, K-1]``, the sum's
    terms being ``exp`` of them, each times one same number (as cross-entropy's
    mean reduction puts N into the sum: :mod:`symconv.engine.loss`); the
    coefficient ``c`` has that number divided out.
    """
    from sympy import Add, Indexed, Mul, Pow, exp

    factors = Mul.make_args(term)
    sums = [f for f in factors if isinstance(f, Pow) and f.exp == -1 and isinstance(f.base, Add)]
    if len(sums) != 1:
        return None
    scales, row = set(), []
    for part in Add.make_args(sums[0].base):
        scale, power = part.as_coeff_Mul()
        if not isinstance(power, exp) or not isinstance(power.args[0], Indexed):
            return None
        scales.add(scale)
        row.append(power.args[0])
    heads = {(e.base, tuple(e.indices[:-1])) for e in row}
    tops = [f for f in factors if isinstance(f, exp) and f.args[0] in row]
    if len(scales) != 1 or len(heads) != 1 or len(tops) != 1:
        return None
    rest = [f for f in factors if f is not sums[0] and f is not tops[0]]
    if not all(f.is_Number for f in rest):
        return None
    row = sorted(row, key=lambda e: tuple(int(i) for i in e.indices))
    return Mul(*rest) / scales.pop(), tops[0].args[0], row


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
    ``mean_over``: the batch size N when the sum loss is the mean, else None;
    ``layer_notes``: what the layers' rules say of themselves (sigmoid's
    derivative, batch norm's compact form), once per distinct sentence, as
    ``(plain text, text with $LaTeX$)`` pairs;
    ``loss``: a derived loss's ``(latex, text)`` definition of L and the
    words on its target, or None for the sum loss.
    """

    winner: bool
    stack_winners: bool
    mean_over: int | None
    layer_notes: tuple = ()
    loss: tuple | None = None


#: What a derived loss's target is, per loss: (LaTeX, plain text).
_TARGET_WORDS = {
    True: ("$t$ is the target, of $y$'s shape.", "t = the target, of y's shape"),
    False: ("$t_{n}$ is the label of sample $n$, an integer in 0..K-1, and $[t_{n} = k]$ is 1 when"
            " $t_{n} = k$, else 0 (KroneckerDelta(k, t[n]) in JSON).",
            "t[n] = the label of sample n, an integer in 0..K-1; [t[n] = k] = 1 if t[n] = k, else 0 "
            "(KroneckerDelta(k, t[n]) in JSON); softmax(y[n])[k] = exp(y[n,k]) / sum_j exp(y[n,j])"),
}


def notes(derivation) -> Notes:
    spec = derivation.spec
    layers = spec.layers if spec.is_stack else (spec,)
    pooled = any(rule_for(layer).winner for layer in layers)
    names = derivation.names if spec.is_stack else [None]
    said = []
    for layer, name in zip(layers, names):
        explain = rule_for(layer).notes
        for note in (explain(layer, name) if explain else []):
            if note not in said:
                said.append(note)
    loss = None
    if derivation.loss is not None:
        rule = loss_rule_for(derivation.loss)
        (tex, text), words = rule.definition(derivation.loss), _TARGET_WORDS[rule.rational]
        loss = ("$L = " + tex + "$ (" + rule.words(derivation.loss) + "); " + words[0],
                "L = " + text + " (" + rule.words(derivation.loss) + "); " + words[1])
    mean = derivation.reduction == "mean" and derivation.loss is None
    return Notes(winner=pooled and not spec.is_stack, stack_winners=pooled and spec.is_stack,
                 mean_over=spec.input[0] if mean else None, layer_notes=tuple(said), loss=loss)


def describe_loss(derivation) -> str:
    """The loss after a layer's description in a title: ``""``, ``", mean reduction"`` or its words."""
    if derivation.loss is not None:
        return ", " + loss_rule_for(derivation.loss).words(derivation.loss)
    return "" if derivation.reduction == "sum" else ", mean reduction"


def check_form(derivation, form: str) -> None:
    """Refuse a form (operator identities, matrix pictures) that the derivation's layer does not have."""
    if form != "element" and derivation.loss is not None:
        raise SymconvError(f"loss: got {derivation.loss.kind} with --form {form}, expected --loss sum "
                           f"(the operator and matrix forms start from a given dy)")
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


def _intermediate_sections(layer, steps, prefix=""):
    """One forward section per quantity a layer computes before its output, titled by its rule."""
    titles = rule_for(layer).titles or {}
    return [Section("forward", f"{prefix}{titles.get(split_name(name)[0], 'Intermediate')} ({name})", name, table)
            for name, table in steps.items()]


def _stack_sections(derivation):
    """Forward layer by layer, then the gradients from the last layer back (seed 004's chain)."""
    sections = []
    for position, (layer, names, table, steps) in enumerate(
        zip(derivation.spec.layers, derivation.names, derivation.forward, derivation.intermediates), start=1
    ):
        sections += _intermediate_sections(layer, steps, f"Layer {position} ({layer.kind}): ")
        title = f"Layer {position} ({layer.kind}): forward, {names['y']} from {names['x']}"
        sections.append(Section("forward", title, names["y"], table))
    for position in range(len(derivation.names), 0, -1):
        layer, names = derivation.spec.layers[position - 1], derivation.names[position - 1]
        for name, table in derivation.gradients[position - 1].items():
            title = f"Layer {position} ({layer.kind}): gradient with respect to {name[1:]}, from d{names['y']}"
            sections.append(Section(name, title, name, table))
    return sections


def _loss_section(derivation):
    words = loss_rule_for(derivation.loss).words(derivation.loss)
    title = f"Loss: gradient with respect to the output y ({words})"
    return Section("dy", title, "dy", derivation.dy)


def element_sections(derivation, progress=None):
    """Forward and every gradient entry, element by element, section by section.

    ``progress``, if given, is called once after each section has been used,
    so a caller can show how far a long printing job has come.
    """
    if derivation.is_stack:
        sections = _stack_sections(derivation)
    else:
        sections = _intermediate_sections(derivation.spec, derivation.intermediates)
        sections.append(Section("forward", _TITLES["forward"], "y", derivation.forward))
        for name, table in derivation.gradients.items():
            sections.append(Section(name, _TITLES[name], name, table))
    if derivation.loss is not None:  # dy first among the gradients: the chain starts from it
        first = next(i for i, section in enumerate(sections) if section.name != "forward")
        sections.insert(first, _loss_section(derivation))
    for section in sections:
        yield section
        if progress is not None:
            progress()
