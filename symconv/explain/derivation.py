r"""The general derivation, step by step, in symbolic sizes: built from the forward by the formulas' delta calculus.

:func:`symconv.formula.index.derive_formulas` keeps what a hand derivation
needs besides its result: the forward as defined (a sum over taps with the
padding's range brackets, before any bound was tightened) and each
gradient's chain-rule terms (Kronecker deltas not yet solved). From those,
each step here is one operation of :class:`~symconv.formula.sums.IndexSum`:

1. the forward as defined (``Formula.definition``);
2. the chain rule, :math:`\partial L/\partial x_e = \sum_o dy_o\,
   \partial y_o/\partial x_e`, over every output;
3. the derivative of the forward's sum: Kronecker deltas, written as Iverson
   brackets (``Formula.chain``);
4. every delta solved for the innermost summation index it holds
   (:meth:`IndexSum.eliminate`), which leaves a divisibility bracket where
   the dilation (or the stride) must divide, and the brackets that hold for
   every entry dropped;
5. each bracket linear in a summation index turned into its bounds
   (:meth:`IndexSum.tighten`): ``symconv formula``'s result, which
   :attr:`Step.formula` records (and the tests hold equal);
6. the operator form, where one holds (:mod:`symconv.explain.operator`).

>>> steps = general_steps("conv1d", ("dx",))
>>> [s.key for s in steps]
['forward', 'chain', 'brackets', 'solved', 'tightened', 'operator']
>>> steps[4].formula
True
"""

from __future__ import annotations

import functools

from sympy import Derivative, diff

from symconv.explain.model import Step, renamed, without_implied
from symconv.explain.operator import operator_steps
from symconv.explain.shift import Shift
from symconv.explain import words
from symconv.formula.index import derive_formulas
from symconv.formula.sums import IndexSum, offset_symbol, split_deltas
from symconv.symbolic.tensors import base

#: Each step's title, by key.
TITLES = {
    "forward": "The forward pass as a sum",
    "chain": "The chain rule over every output",
    "brackets": "The derivative of the sum, as Iverson brackets",
    "solved": "The brackets solved",
    "tightened": "The brackets as summation bounds",
    "operator": "The operator form",
    "closed": "The closed form",
}


def chain_term(forward, formula) -> IndexSum:
    r""":math:`\sum_o dy_o\, \partial y_o / \partial t_e` over every output, the derivative left unevaluated."""
    outputs = formula.chain[0].limits[: len(forward.lhs.indices)]
    element = tuple(l.var for l in outputs)
    derivative = Derivative(base("y")[element], base(formula.name[1:])[formula.lhs.indices])
    return IndexSum(base("dy")[element] * derivative, outputs)


def vanished_terms(forward, formula) -> list:
    """The forward's terms whose derivative by the gradient's element is 0 (the bias, for dx), with the
    output's indices primed as the chain rule names them (``b[f']``)."""
    element = base(formula.name[1:])[formula.lhs.indices]
    outputs = {o: offset_symbol(o.name + "'") for o in forward.lhs.indices}
    gone = []
    for term in forward.definition:
        deltas, rest = split_deltas(diff(term.body, element))
        if rest == 0:
            own = {l.var: offset_symbol(l.var.name + "'") for l in term.limits}
            gone.append(term.rename({**outputs, **own}))
    return gone


def gradient_steps(forward, formula, shift: Shift, operator: bool = True) -> list[Step]:
    """The steps from the chain rule to ``formula``'s result (and its operator form), for one gradient."""
    name, domains, free = formula.name, formula.domains, formula.lhs.indices
    lhs, shown_lhs = formula.lhs, shift.lhs(formula.lhs)
    chain = chain_term(forward, formula)
    solved = tuple(without_implied(renamed(t.eliminate(), free), domains) for t in formula.chain)
    tightened = tuple(t.tighten(domains) for t in solved)

    def step(key, terms, why, **more):
        shown = tuple(shift.term(t) for t in terms)
        return Step(key, TITLES[key], name, lhs, why(shown), terms, shown_lhs=shown_lhs, shown=shown, **more)

    steps = [
        step("chain", (chain,), lambda shown: words.chain(shown, shown_lhs)),
        step("brackets", formula.chain, lambda shown: words.brackets(shown, shown_lhs),
             vanished=tuple(words.vanished(shift.term(t), shown_lhs) for t in vanished_terms(forward, formula))),
    ]
    same = tightened == solved
    steps.append(step("solved", solved, lambda shown: words.solved(shown, shift.terms(formula.chain), same),
                      formula=same and tightened == formula.terms))
    if not same:
        steps.append(step("tightened", tightened, lambda shown: words.tightened(shown, shown_lhs),
                          formula=tightened == formula.terms))
    if operator:
        for key, terms, why, notation in operator_steps(formula, solved, forward.axes):
            steps.append(step(key, terms, lambda shown: why(shown, shown_lhs), operator=notation))
    return steps


def forward_step(forward, shift: Shift, kind: str) -> Step:
    """The forward as defined: a sum over the kernel's taps, each tap inside x by a range bracket."""
    terms = forward.definition
    shown = tuple(shift.term(t) for t in terms)
    shown_lhs = shift.lhs(forward.lhs)
    return Step("forward", TITLES["forward"], "y", forward.lhs, words.forward(kind, shown, shown_lhs), terms,
                shown_lhs=shown_lhs, shown=shown)


def general_steps(kind: str, gradients=None, index_base: int = 0, operator: bool = True) -> tuple[Step, ...]:
    """The forward step, then each gradient's steps (``gradients``: dx, dw, db, as the kind has them)."""
    return _general_steps(kind, None if gradients is None else tuple(gradients), index_base, operator)


@functools.lru_cache(maxsize=64)  # the steps are frozen: one derivation serves every later call
def _general_steps(kind, gradients, index_base, operator):
    formulas = formulas_of(kind)
    forward = formulas["forward"]
    names = [g for g in ("dx", "dw", "db") if g in formulas and (gradients is None or g in gradients)]
    steps = [forward_step(forward, Shift(index_base, forward.lhs.indices), kind)]
    for name in names:
        formula = formulas[name]
        steps += gradient_steps(forward, formula, Shift(index_base, formula.lhs.indices), operator)
    return tuple(steps)


@functools.lru_cache(maxsize=16)
def formulas_of(kind: str):
    """``derive_formulas(kind)``, derived once: the formulas are never changed after they are derived."""
    return derive_formulas(kind)

