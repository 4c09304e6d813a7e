r"""The general steps instantiated at a layer's sizes and down to one entry of a gradient, ending in its closed form.

Every general step (:mod:`symconv.explain.derivation`) is substituted with the
layer's sizes and the entry's indices; what is then concrete is decided: a
Kronecker delta or a bracket between numbers is 1 (dropped) or 0 (the term
vanishes), a divisibility by 1 always holds, a tightened range that is
empty sums nothing. The forward is shown at the layer's sizes for every
output. A last step writes the surviving terms out: the seeds'
:math:`dx_{22} = dy_{11} w_{22} + dy_{12} w_{21} + dy_{21} w_{12} + dy_{22} w_{11}`.

>>> from symconv.spec.conv import conv_spec
>>> spec = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))
>>> steps = entry_steps("conv2d", spec, "dx", (0, 0, 1, 1))
>>> print(steps[-1].closed)
dy[0, 0, 0, 0]*w[0, 0, 1, 1] + dy[0, 0, 0, 1]*w[0, 0, 1, 0] + dy[0, 0, 1, 0]*w[0, 0, 0, 1] + dy[0, 0, 1, 1]*w[0, 0, 0, 0]
"""

from __future__ import annotations

from dataclasses import replace

from sympy import Add, Integer

from symconv.explain import facts, words
from symconv.explain.derivation import TITLES, formulas_of, forward_step, gradient_steps
from symconv.explain.families import size_values
from symconv.explain.model import Step, Why
from symconv.explain.shift import Shift
from symconv.formula.sums import IndexSum

#: What a gradient's surviving terms pair each output with, in the sentences.
PARTNER = {"dx": "tap", "dw": "input", "db": "output"}


def _number(value):
    return Integer(value) if isinstance(value, int) else value


def _single_values_summed(term: IndexSum) -> IndexSum:
    """A sum over one value (``f`` from 0 to 0 when F = 1) written with that value: no sum left.

    A tightened range that holds one value stays a sum: its bounds are what the step shows.
    """
    while True:
        single = [l for l in term.limits if l.lo.is_number and l.lo == l.hi and not l.tightened]
        if not single:
            return term
        limit = single[0]
        term = replace(term, limits=tuple(l for l in term.limits if l is not limit)).substitute({limit.var: limit.lo})


def _always(term: IndexSum, span) -> bool:
    """Whether a range bracket on summation indices only holds at every value of them (it then says nothing)."""
    if not span.expr.free_symbols <= {l.var for l in term.limits}:
        return False
    own = tuple(l for l in term.limits if l.var in span.expr.free_symbols)  # the ranges are numbers here
    kept, total = facts.survivors(IndexSum(1, own, (span,)))
    return len(kept) == total


def concrete(term: IndexSum, mapping) -> IndexSum | None:
    """``term`` with ``mapping`` substituted and what became concrete decided; None when it is 0.

    A sum over a single value is written with that value; a delta, divisibility or range bracket between
    numbers is dropped when it holds and makes the term 0 when it does not; a range bracket that holds at
    every value of its summation indices is dropped; an empty range makes the term 0.
    """
    term = term.substitute(mapping)  # the bounds of its brackets and its divisors are sizes: substituted here
    term = replace(term, limits=tuple(replace(l, lo=_number(l.lo), hi=_number(l.hi)) for l in term.limits),
                   spans=tuple(replace(s, lo=_number(s.lo).subs(mapping), hi=_number(s.hi).subs(mapping))
                               for s in term.spans),
                   divides=tuple(replace(d, divisor=_number(d.divisor).subs(mapping)) for d in term.divides))
    for limit in term.limits:
        if limit.lo.is_number and limit.hi.is_number and limit.hi < limit.lo:
            return None  # an empty range: no output reads the entry
    term = _single_values_summed(term)
    deltas = []
    for a, b in term.deltas:
        if (a - b).is_number:
            if a != b:
                return None
        else:
            deltas.append((a, b))
    divides = []
    for d in term.divides:
        if d.divisor == 1:
            continue
        if d.numerator.is_number and d.divisor.is_number:
            if d.numerator % d.divisor != 0:
                return None
            continue
        divides.append(d)
    spans = []
    for s in term.spans:
        if s.expr.is_number and s.lo.is_number and s.hi.is_number:
            if not s.lo <= s.expr <= s.hi:
                return None
            continue
        spans.append(s)
    numbers = all(l.lo.is_number and l.hi.is_number for l in term.limits)
    term = replace(term, deltas=tuple(deltas), divides=tuple(divides), spans=tuple(spans),
                   limits=tuple(replace(l, tightened=False) for l in term.limits) if numbers else term.limits)
    if numbers:
        term = replace(term, spans=tuple(s for s in term.spans if not _always(term, s)))
    return term


def _terms(terms, mapping) -> tuple:
    return tuple(t for t in (concrete(term, mapping) for term in terms) if t is not None)


def closed_form(terms) -> object:
    """The surviving terms of a sum with concrete ranges, written out, in the order the sum visits them."""
    written = []
    for term in terms:
        kept, _ = facts.survivors(term)
        body = term.body.subs(dict(term.solved))
        for assignment in kept:
            written.append(body.xreplace({s: Integer(assignment[s.name]) for s in body.free_symbols
                                          if s.name in assignment}))
    return Add(*written)


def _why(step: Step, terms, lhs, shift, quantity, before=None) -> Why:
    if step.key == "chain":
        return facts.chain(terms[0], lhs, shift)
    if not terms:
        return Why("Every term has a bracket that is 0 at {}: the gradient there is 0.",
                   (shift.element(words.element_of(lhs)),))
    if step.key == "brackets":
        return facts.brackets(terms[0], lhs, shift, PARTNER[quantity])
    if step.key == "solved":
        return facts.solved(terms[0], lhs, shift, before)
    if step.key == "tightened":
        return facts.tightened(terms[0], lhs, shift)
    return facts.operator(terms[0], lhs, shift)


def entry_steps(kind: str, spec, quantity: str, index, index_base: int = 0) -> list[Step]:
    """The forward at ``spec``'s sizes, then ``quantity``'s steps at entry ``index`` (0-based), then its closed form."""
    formulas = formulas_of(kind)
    forward, formula = formulas["forward"], formulas[quantity]
    sizes = size_values(kind, spec)
    at = dict(zip(formula.lhs.indices, (Integer(i) for i in index)))
    shift, out = Shift(index_base, ()), Shift(index_base, forward.lhs.indices)
    general = forward_step(forward, Shift(0, forward.lhs.indices), kind)
    terms = _terms(general.terms, sizes)
    shown = tuple(out.term(t) for t in terms)
    steps = [replace(general, terms=terms, shown=shown, shown_lhs=out.lhs(forward.lhs),
                     why=words.forward(kind, shown, out.lhs(forward.lhs)))]
    lhs = formula.lhs.xreplace(at)
    last, brackets = None, None
    for step in gradient_steps(forward, formula, Shift(0, formula.lhs.indices)):
        terms = _terms(step.terms, {**sizes, **at})
        vanished = tuple((None, why, ()) for _, why, _ in step.vanished)
        steps.append(replace(step, lhs=lhs, terms=terms, shown_lhs=shift.element(lhs),
                             shown=tuple(shift.term(t) for t in terms), vanished=vanished,
                             why=_why(step, terms, lhs, shift, quantity, brackets)))
        if step.key == "brackets" and terms:
            brackets = terms[0]
        if step.key in ("solved", "tightened"):
            last = terms
    closed = closed_form(last)
    count = len(Add.make_args(closed)) if closed != 0 else 0
    steps.append(Step("closed", TITLES["closed"], quantity, lhs, facts.closed(count, lhs, shift), closed=closed,
                      shown_lhs=shift.element(lhs), shown_closed=shift.element(closed)))
    return steps
