r"""The chain rule on index formulas: a forward with symbolic sizes, differentiated into a gradient.

A :class:`Formula` is ``lhs = sum of terms`` with the free indices' ranges;
:func:`differentiate` applies the chain rule to ``L = sum dy y`` and reduces
the result by the delta calculus of :mod:`symconv.formula.sums`. The layers'
formulas (:mod:`symconv.formula.index`, :mod:`symconv.formula.transpose`)
are built from these two.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sympy import Indexed, Integer, diff

from symconv.formula.sums import GROUP_SIZES, FirstArgmax, IndexSum, Limit, offset_symbol, split_deltas
from symconv.formula.shift import counted_from_one, element_from_one, plus_one
from symconv.symbolic.tensors import base


@dataclass(frozen=True)
class Formula:
    """``lhs = sum of terms``, plus how it was reached.

    ``chain`` holds the gradient's chain-rule terms before any delta was
    eliminated (empty for a forward); ``definition`` the forward's terms as
    defined, before their bounds were tightened, which the gradients are
    differentiated from (empty for a gradient); ``domains`` the free indices'
    ranges; ``axes`` the spatial axes whose output sizes the terms use.
    """

    name: str
    lhs: Indexed
    terms: tuple
    domains: dict
    axes: tuple
    chain: tuple = ()
    notes: tuple = field(default=())
    definition: tuple = ()

    def expression(self, guard: bool = True):
        """The right-hand side in terms of the output-size symbols (``H_o``)."""
        return sum((t.expression(guard) for t in self.terms), Integer(0))

    def sympy(self):
        """Self-contained right-hand side: output sizes, group sizes and selectors written out."""
        sizes = {**{a.out: a.out_size() for a in self.axes}, **GROUP_SIZES}
        expr = self.expression().subs(sizes)
        return expr.replace(lambda e: isinstance(e, FirstArgmax), lambda e: e.definition())

    def sympy_lhs(self):
        """The left-hand side with the group sizes written out (``dx[n, C*g/G + c, h]``)."""
        return self.lhs.subs(GROUP_SIZES)

    def counted_from_one(self) -> Formula:
        """The same formula with every index counted from 1 (:mod:`symconv.formula.shift`)."""
        free = tuple(self.domains)
        return replace(
            self, lhs=element_from_one(self.lhs, free),
            terms=tuple(counted_from_one(t, free) for t in self.terms),
            chain=tuple(counted_from_one(t, free) for t in self.chain),
            definition=tuple(counted_from_one(t, free) for t in self.definition),
            domains={v: (plus_one(lo), plus_one(hi)) for v, (lo, hi) in self.domains.items()},
        )


def _prime(symbols):
    return {s: offset_symbol(s.name + "'") for s in symbols}


def differentiate(forward: Formula, tensor: str, free: tuple, domains: dict) -> Formula:
    """``d/d tensor[free]`` of ``L = sum dy y``: chain rule, then deltas eliminated, then bounds."""
    outputs = forward.lhs.indices
    rename = _prime(outputs)
    sizes = [forward.domains[o][1] for o in outputs]
    output_limits = tuple(Limit(rename[o], 0, hi) for o, hi in zip(outputs, sizes))
    upstream = base("dy")[tuple(rename[o] for o in outputs)]
    chain, terms = [], []
    for term in forward.terms:
        local = {**rename, **_prime(l.var for l in term.limits)}
        term = term.rename(local)
        deltas, rest = split_deltas(diff(term.body, base(tensor)[free]))
        # Solved in the order of the free indices (SymPy sorts them by name, which puts
        # a 3-D layer's depth z after h and q), so brackets and taps read axis by axis.
        deltas = tuple(sorted(deltas, key=lambda pair: min(
            (at for at, v in enumerate(free) if any(e.has(v) for e in pair)), default=len(free))))
        if rest == 0:
            continue
        # A forward defined by a delta (a transposed convolution's scatter) keeps it in the chain.
        raw = IndexSum(upstream * rest, output_limits + term.limits, term.spans, deltas=term.deltas + deltas)
        chain.append(raw)
        reduced = raw.eliminate().tighten(domains)
        left = [l.var for l in reduced.limits] + [v for v, _ in reduced.solved]
        terms.append(reduced.rename({v: offset_symbol(v.name.rstrip("'")) for v in left}))
    lhs = base("d" + tensor)[free]
    return Formula("d" + tensor, lhs, tuple(terms), domains, forward.axes, tuple(chain))


def _domains(pairs):
    return {var: (Integer(0), size - 1) for var, size in pairs}


def _composite_element(element, pairs):
    """``x[n, g, c, h]`` -> ``x[n, g C_g + c, h]``: the (group, member) pair as the one index PyTorch uses.

    ``pairs`` says, per tensor name, where its pair sits and the group's size.
    """
    at, size = pairs[element.base.name]
    index = element.indices
    return element.base[index[:at] + (index[at] * size + index[at + 1],) + index[at + 2:]]


def composite(formula: Formula, pairs) -> Formula:
    """A grouped layer's formula with every (group, member) pair of ``pairs`` written as one index."""
    def written(expr):
        return expr.replace(lambda e: isinstance(e, Indexed) and e.base.name in pairs,
                            lambda e: _composite_element(e, pairs))

    def term(t):
        return replace(t, body=written(t.body))

    return replace(formula, lhs=_composite_element(formula.lhs, pairs), terms=tuple(map(term, formula.terms)),
                   chain=tuple(map(term, formula.chain)), definition=tuple(map(term, formula.definition)))
