r"""What survives each step at one entry: the terms whose brackets all hold, named, and the why built from them.

At concrete sizes and a concrete entry, a step's sum has concrete ranges;
:func:`survivors` walks them and evaluates the brackets (Kronecker deltas,
divisibility, ranges) exactly, so the sentence under each step can name the
outputs and taps that survive and count those that vanish: "of the 36
(output, tap) terms, 4 have every bracket 1: (y_11, w_22), ...".

>>> from sympy import Symbol
>>> from symconv.formula.sums import IndexSum, Limit, Span
>>> i = Symbol("i")
>>> survivors(IndexSum(1, (Limit(i, 0, 4),), (Span(2 * i, 0, 5),)))
([{'i': 0}, {'i': 1}, {'i': 2}], 5)
"""

from __future__ import annotations

from sympy import And, Eq, Indexed, Integer, Mod, Symbol

from symconv.explain.evaluate import compile_expression, loop_order
from symconv.explain.model import Why
from symconv.explain.words import delta_bracket, element_of
from symconv.formula.sums import IndexSum
from symconv.symbolic.tensors import base

#: Survivors named in a sentence, at most; the rest are counted.
NAMED = 8


def _conditions(term: IndexSum):
    conditions = [Eq(a, b) for a, b in term.deltas] + [Eq(Mod(d.numerator, d.divisor), 0) for d in term.divides]
    return conditions + [And(s.lo <= s.expr, s.expr <= s.hi) for s in term.spans]


def survivors(term: IndexSum) -> tuple[list, int]:
    """``(assignments whose every bracket holds, how many assignments)`` of a sum with concrete ranges.

    Each bracket is tried as soon as the summation indices it reads are set,
    so a layer's thousands of (output, tap) pairs cost a walk over the few
    that get past the first brackets.
    """
    conditions = _conditions(term)
    limits = loop_order([(l.var, l.lo, l.hi) for l in term.limits], [c.free_symbols for c in conditions])
    names = [var.name for var, _, _ in limits]
    levels = [[] for _ in range(len(names) + 1)]
    for condition in conditions:
        deepest = max((names.index(s.name) + 1 for s in condition.free_symbols if s.name in names), default=0)
        levels[deepest].append(compile_expression(condition))
    bounds = [(name, compile_expression(lo), compile_expression(hi)) for name, (_, lo, hi) in zip(names, limits)]
    total = 1
    for _, lo, hi in bounds:
        total *= max(0, hi({}) - lo({}) + 1)  # the ranges at one entry are numbers
    kept = []

    def walk(level, env):
        if not all(c(env) for c in levels[level]):
            return
        if level == len(bounds):
            kept.append(dict(env))
            return
        name, lo, hi = bounds[level]
        for value in range(lo(env), hi(env) + 1):
            env[name] = value
            walk(level + 1, env)
        env.pop(name, None)

    walk(0, {})
    order = [l.var.name for l in term.limits]  # the sum's own order of indices, outermost first
    return sorted(kept, key=lambda a: tuple(a[name] for name in order)), total


def _at(expr, assignment):
    return expr.xreplace({s: Integer(assignment[s.name]) for s in expr.atoms(Symbol) if s.name in assignment})


def output_of(term: IndexSum, assignment, shift):
    """The output (a y element) whose dy a surviving term holds."""
    body = _at(term.body.subs(dict(term.solved)), assignment)
    (dy,) = [e for e in body.atoms(Indexed) if e.base.name == "dy"]
    return shift.element(base("y")[dy.indices])


def named(term: IndexSum, assignment, shift):
    """A surviving term by name: ``(y_11, w_22)`` (the output and the element it multiplies), or its output alone."""
    body = _at(term.body.subs(dict(term.solved)), assignment)
    others = [e for e in body.atoms(Indexed) if e.base.name != "dy"]
    output = output_of(term, assignment, shift)
    return (output, shift.element(others[0])) if len(others) == 1 else output


def _listed(items):
    """The first :data:`NAMED` distinct items, then "..." if there are more; the items are named lazily."""
    shown = []
    for item in items:
        if item not in shown:
            if len(shown) == NAMED:
                return shown + ["..."]
            shown.append(item)
    return shown


def _number(count: int, one: str, many: str) -> str:
    """``"1 term has"`` or ``"4 terms have"``: a count with its words in agreement."""
    return f"{count} {one if count == 1 else many}"


def chain(term: IndexSum, lhs, shift) -> Why:
    everyone, total = survivors(term)
    first, last = output_of(term, everyone[0], shift), output_of(term, everyone[-1], shift)
    element = shift.element(element_of(lhs))
    if total == 1:
        return Why("The one output, {}, enters the sum: its dy times how it moves with {}.", (first, element))
    return Why("All {} outputs, {} to {}, enter the sum: each dy times how its output moves with {}.",
               (total, first, last, element))


def brackets(term: IndexSum, lhs, shift, what: str) -> Why:
    kept, total = survivors(term)
    element = shift.element(element_of(lhs))
    if not kept:
        return Why("None of the {} (output, " + what + ") terms has every bracket 1: no output reads {}.",
                   (total, element))
    return Why("Of the {} (output, " + what + ") terms, " + _number(len(kept), "has", "have") + " every bracket 1, "
               "{}; the other {} vanish (their window misses {} or reads it in no tap).",
               (total, _listed(named(term, a, shift) for a in kept), total - len(kept), element))


def solved(term: IndexSum, lhs, shift, before: IndexSum | None = None) -> Why:
    """``before`` is the chain rule's term at the entry, whose brackets the step solves."""
    kept, total = survivors(term)
    shown = shift.term(term)
    fixed = [Eq(var, value, evaluate=False) for var, value in shown.solved]
    solving = [delta_bracket(a, b) for a, b in shift.term(before).deltas] if before is not None and fixed else []
    if solving:
        lead = Why("Solving {} for the tap gives {}: ", (solving, fixed))
    elif fixed:
        lead = Why("The brackets fix {}: ", (fixed,))
    else:
        lead = Why("", ())
    if not kept:
        return lead + Why("no term of the {} left passes its brackets, so the gradient is 0.", (total,))
    dropped = total - len(kept)
    why = lead + Why(_number(len(kept), "term", "terms") + " of the {} left pass" + ("es" if len(kept) == 1 else "")
                     + " every bracket, {}", (total, _listed(named(term, a, shift) for a in kept)))
    if dropped:
        why += Why("; the other " + _number(dropped, "needs", "need") + " a tap outside the kernel, a position in "
                   "the padding or a position between the stride's steps", ())
    return why + Why(".", ())


def tightened(term: IndexSum, lhs, shift) -> Why:
    kept, total = survivors(term)
    ranges = [f"{l.var} = {l.lo}" if l.lo == l.hi else f"{l.var} from {l.lo} to {l.hi}"
              for l in shift.term(term).limits]
    words = " (" + ", ".join(ranges) + ")" if ranges else ""
    return Why("The range brackets become the bounds" + words + ", which keep exactly the "
               + _number(len(kept), "surviving term", "surviving terms") + ", {}.",
               (_listed(named(term, a, shift) for a in kept),))


def operator(term: IndexSum, lhs, shift) -> Why:
    kept, total = survivors(term)
    named_kept = _listed(named(term, a, shift) for a in kept)
    if len(kept) == total:
        return Why("The flipped kernel laid on the spread, padded dy: all {} of its taps land on an entry of dy, {}.",
                   (total, named_kept))
    return Why("The flipped kernel laid on the spread, padded dy: " + _number(len(kept), "tap", "taps")
               + " of its {} land" + ("s" if len(kept) == 1 else "") + " on an entry of dy, {}; the others land on "
               "the zeros.", (total, named_kept))


def closed(count: int, lhs, shift) -> Why:
    element = shift.element(element_of(lhs))
    if not count:
        return Why("No term survives: the gradient at {} is 0.", (element,))
    return Why("Writing out the " + _number(count, "surviving term", "surviving terms") + " gives the gradient at {}.",
               (element,))
