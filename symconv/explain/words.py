r"""The one line of why under each general step, filled with what the step holds.

Each function reads the step's own terms (as shown, in the document's index
base) and returns a :class:`~symconv.explain.model.Why`: a sentence for a
learner whose mathematics (the position a tap reads, the solved tap, the
divisibility bracket, the bounds) is taken from the derived terms, never
typed in. The sentences at one entry, with the outputs and taps that survive,
are in :mod:`symconv.explain.facts`.
"""

from __future__ import annotations

from sympy import Derivative, Eq, Indexed, Mod, Symbol

from symconv.explain.model import Bracket, Why
from symconv.formula.sums import IndexSum
from symconv.symbolic.tensors import base


def element_of(lhs):
    """``dx[n, c, h]`` -> ``x[n, c, h]``: the element a gradient's entry is taken by."""
    return base(lhs.base.name[1:])[lhs.indices]


def span_bracket(span) -> Bracket:
    return Bracket(_between(span.lo, span.expr, span.hi))


def _between(lo, expr, hi):
    from sympy import And, LessThan

    return And(LessThan(lo, expr, evaluate=False), LessThan(expr, hi, evaluate=False), evaluate=False)


def divides_bracket(divides) -> Bracket:
    return Bracket(Eq(Mod(divides.numerator, divides.divisor, evaluate=False), 0, evaluate=False))


def delta_bracket(a, b) -> Bracket:
    """A Kronecker delta as the bracket ``[h = i'S + k'D - P]``; a number goes on the right (``[i' + k' = 2]``)."""
    if getattr(a, "is_number", False) and not getattr(b, "is_number", False):
        a, b = b, a
    return Bracket(Eq(a, b, evaluate=False))


def _taps(term: IndexSum) -> list:
    """The summation indices that are kernel taps: those the range brackets' positions hold."""
    held = set().union(*(s.expr.free_symbols for s in term.spans)) if term.spans else set()
    return [l.var for l in term.limits if l.var in held]


def _coordinates(values):
    values = tuple(values)
    return values[0] if len(values) == 1 else values


#: What each family's forward is, in words; ``{}`` are the output, the taps, the positions they read, the
#: range brackets.
FORWARD = {
    "conv": "Output {} is the kernel laid on x: tap {} reads x at {}, and a tap in the zero padding adds nothing, "
            "so the range brackets {} keep only the taps inside x.",
    "maxpool": "Output {} is the maximum of its window, written as a sum: the arg max bracket is 1 at the "
               "window's first maximum (row-major order, PyTorch's rule for ties) and 0 at every other tap; tap {} "
               "reads x at {}, the "
               "padding holds -inf and never wins, so the range brackets {} keep the taps inside x; the selector is "
               "piecewise constant, so its derivative is 0.",
    "avgpool": "Output {} is the mean of its window: tap {} reads x at {}, the zero padding adds nothing but counts "
               "in the divisor (count_include_pad), and the range brackets {} keep the taps inside x.",
}


#: The family whose words each kind's forward takes.
FAMILY = {"conv1d": "conv", "conv2d": "conv", "maxpool1d": "maxpool", "maxpool2d": "maxpool",
          "avgpool1d": "avgpool", "avgpool2d": "avgpool"}


def forward(kind: str, shown, lhs) -> Why:
    term = shown[0]
    taps = _taps(term)
    brackets = [span_bracket(s) for s in term.spans]
    positions = _coordinates(s.expr for s in term.spans)
    return Why(FORWARD[FAMILY[kind]], (lhs, _coordinates(taps), positions, brackets))


def chain(shown, lhs) -> Why:
    (term,) = shown
    (dy,) = [e for e in term.body.atoms(Indexed) if e.base.name == "dy"]
    output = base("y")[dy.indices]
    return Why("L depends on {} only through the outputs, so the chain rule sums over every output {}: dy "
               "(how L moves with the output) times how that output moves with {}.",
               (element_of(lhs), output, element_of(lhs)))


def _differentiated(term: IndexSum, lhs):
    """The element of the forward that the deltas compare with ``lhs``'s: ``x[n', c', i'S + k'D - P]``."""
    sides = {}
    for a, b in term.deltas:
        for free, other in ((a, b), (b, a)):
            if free in lhs.indices and free not in sides:
                sides[free] = other
    return base(lhs.base.name[1:])[tuple(sides.get(i, i) for i in lhs.indices)]


def brackets(shown, lhs) -> Why:
    term = shown[0]
    deltas = [delta_bracket(*pair) for pair in term.deltas]
    derivative = Derivative(_differentiated(term, lhs), element_of(lhs))
    return Why("Differentiating the sum term by term: {} is 1 where the indices agree and 0 elsewhere, the "
               "brackets {}, so only the terms that hold {} survive.", (derivative, deltas, element_of(lhs)))


def vanished(term: IndexSum, lhs):
    """``(the derivative of one of the term's products, why, the term's own summation indices)``: a forward
    term the gradient's element does not appear in (the bias, for dx), for an underbrace and a sentence."""
    tensor = element_of(lhs)
    names = sorted({e.base.name for e in term.body.atoms(Indexed)})
    plural = len(names) > 1
    why = Why("The term{} of {} vanish{}: {} {} not depend on {}.",
              ("s" if term.limits else "", " and ".join(names), "" if term.limits else "es", " and ".join(names),
               "do" if plural else "does", tensor.base.name))
    return Derivative(term.body, tensor), why, tuple(l.var for l in term.limits)


def solved(shown, chain_terms, same: bool) -> Why:
    term, first = shown[0], chain_terms[0]
    left = {l.var for l in term.limits} | {v for v, _ in term.solved}
    trivial = [Eq(var, value, evaluate=False) for a, b in first.deltas if _plain_pair(a, b)
               for var, value in ((a, b), (b, a)) if "'" in var.name and var not in left]
    parts = []
    if trivial:
        parts.append(Why("the brackets fix {} (one term of each of those sums)", (trivial,)))
    if term.solved:
        one = len(term.solved) == 1
        why = Why("{} hold" + ("s" if one else "") + " for one tap at most, {}",
                  ([delta_bracket(a, b) for a, b in first.deltas if not _plain_pair(a, b)],
                   [Eq(v, value, evaluate=False) for v, value in term.solved]))
        if term.divides:
            why += Why(", which must be " + ("a whole number" if one else "whole numbers") + ", {}",
                       ([divides_bracket(d) for d in term.divides],))
        bound = {l.var for l in term.limits}
        ranges = [span_bracket(s) for s in term.spans if s.expr.free_symbols & bound]
        if ranges:
            why += Why(", inside the kernel, {}", (ranges,))
        parts.append(why)
    primed = {l.var.name for l in first.limits}
    if any(l.var.name + "'" in primed for l in term.limits):
        parts.append(Why("the indices left drop their primes", ()))
    if same:
        parts.append(Why("nothing is left to tighten: this is symconv formula's result", ()))
    if not parts:
        return Why("Every bracket is solved.", ())
    why = parts[0]
    for part in parts[1:]:
        why += Why("; ", ()) + part
    return Why(why.template[:1].upper() + why.template[1:] + ".", why.values)


def _plain_pair(a, b) -> bool:
    return isinstance(a, Symbol) and isinstance(b, Symbol)


def tightened(shown, lhs) -> Why:
    term = shown[0]
    bounds = [(l.var, l.lo, l.hi) for l in term.limits if l.tightened]
    var, lo, hi = bounds[0]
    more = " (likewise for {})".format(", ".join(v.name for v, _, _ in bounds[1:])) if bounds[1:] else ""
    return Why("Each range bracket on one summation index becomes that index's bounds: {} runs from {} to {}" + more
               + ", so the sum visits only the terms the brackets kept (the scatter becomes a gather): "
               "this is symconv formula's result.", (var, lo, hi))


def operator_dx(shown, lhs) -> Why:
    term = shown[0]
    taps = [l.var for l in term.limits if l.var.name in "uv"]
    weighted = any(e.base.name == "w" for e in term.body.atoms(Indexed))
    kernel = "the flipped kernel" if weighted else "a window of ones, divided by its size"
    why = Why("Turning the kernel 180 degrees (tap {} read from the other end) and solving the brackets for the output "
              "instead gives {}; ", (_coordinates(taps), [Eq(v, value, evaluate=False) for v, value in term.solved]))
    if term.divides:
        why += Why("each must be a whole number, {} (dy spread with zeros between its entries), and ",
                   ([divides_bracket(d) for d in term.divides],))
    return why + Why("lie inside dy (dy padded with zeros around): the gradient is that dy correlated with " + kernel
                     + ", a transposed convolution (for stride 1, the full correlation of dy with " + kernel + ").",
                     ())


def operator_dw(shown, lhs) -> Why:
    term = shown[0]
    (x,) = [e for e in term.body.atoms(Indexed) if e.base.name == "x"]
    return Why("Read as an operation on whole tensors, this is x, zero-padded, correlated with dy: output {} "
               "reads x at {}, so dy acts as the kernel, its taps a stride apart, and the result is read every "
               "dilation.", (_coordinates(l.var for l in term.limits[1:]), _coordinates(x.indices[2:])))

