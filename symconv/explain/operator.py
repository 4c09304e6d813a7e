r"""The operator form of a gradient, derived from the chain rule's brackets by a change of variables.

dx: in the chain rule's term, turn the kernel by 180 degrees (each tap
:math:`k = K - 1 - u`) and solve the brackets for the *output* index instead
of the tap (the outputs go innermost, so :meth:`IndexSum.eliminate` solves
for them):

.. math::

    \frac{\partial L}{\partial x_{n,c,h}} = \sum_{f} \sum_{u=0}^{K-1}
        [S \mid h + P - D(K-1-u)]\,[0 \le i \le L_o - 1]\; dy_{n,f,i}\, w_{f,c,K-1-u},
        \qquad i = \frac{h + P - D(K-1-u)}{S}:

dy spread :math:`S` apart (the divisibility bracket: zeros between its
entries), zero outside its range (the range bracket: zeros around it),
correlated with the flipped kernel, taps :math:`D` apart. For stride and
dilation 1 both brackets reduce to the range: the full correlation of dy
with the flipped kernel (seeds 000 and 002). An average pool is the same
with a kernel of ones divided by the window; a max pool has no operator form
(whose dy goes where depends on x).

dw: the solved sum already is one: x, zero-padded, correlated with dy, whose
taps are :math:`S` apart, read every :math:`D` (seed 001); the step restates
it in that notation.

>>> from symconv.formula.index import derive_formulas
>>> formulas = derive_formulas("conv1d")
>>> dx = formulas["dx"]
>>> (term,) = flipped(dx.chain[0], formulas["forward"].axes, dx.lhs.indices, dx.domains)
>>> [l.var.name for l in term.limits], [v.name for v, _ in term.solved]
(['f', 'u'], ['i'])
"""

from __future__ import annotations

from dataclasses import replace

from sympy import Indexed

from symconv.explain import words
from symconv.explain.model import renamed, without_implied
from symconv.formula.sums import FirstArgmax, IndexSum, Limit, idx


def _outputs(term: IndexSum) -> set:
    """The summation indices of the chain rule's outputs: those of its dy element."""
    (dy,) = [e for e in term.body.atoms(Indexed) if e.base.name == "dy"]
    return set(dy.indices)


def flipped(term: IndexSum, axes, free, domains) -> tuple[IndexSum]:
    """The chain rule's term with every tap turned (:math:`k = K - 1 - u`), its brackets solved for the outputs."""
    outputs, turned, limits = _outputs(term), {}, []
    for limit in term.limits:
        axis = [a for a in axes if limit.hi == a.kernel - 1]
        if axis and limit.var not in outputs and len(turned) < len(axes):
            u = idx("u v")[len(turned)]
            turned[limit.var] = axis[0].kernel - 1 - u
            limits.append(Limit(u, 0, axis[0].kernel - 1))
        else:
            limits.append(limit)
    term = replace(term.substitute(turned), limits=tuple(limits))
    ordered = [l for l in term.limits if l.var not in outputs] + [l for l in term.limits if l.var in outputs]
    solved = replace(term, limits=tuple(ordered)).eliminate()
    taps = set(idx("u v"))
    solved = replace(solved, limits=tuple(sorted(solved.limits, key=lambda l: l.var in taps)))
    return (without_implied(renamed(solved, free), domains),)


def operator_steps(formula, solved: tuple, axes) -> list:
    """``[(key, terms, why(shown, lhs), notation)]``: the operator form of ``formula``, where one holds."""
    if any(t.body.has(FirstArgmax) for t in formula.chain):
        return []  # a max pool: where dy goes depends on x
    if formula.name == "dx":
        terms = tuple(t for chain in formula.chain for t in flipped(chain, axes, formula.lhs.indices, formula.domains))
        weighted = any(e.base.name == "w" for t in terms for e in t.body.atoms(Indexed))
        return [("operator", terms, words.operator_dx, "dx" if weighted else "dx-ones")]
    if formula.name == "dw":
        return [("operator", solved, words.operator_dw, "dw")]
    return []
