r"""What an explanation is made of: steps, each an equation with a reason, and the expressions they stand for.

A :class:`Step` is one line of a hand derivation: ``lhs = rhs``, a title and
one sentence of why. Its right-hand side is a sum of
:class:`~symconv.formula.sums.IndexSum` terms (sums with bounds, Iverson
brackets, Kronecker deltas, solved indices), or, for a closed form, a plain
SymPy expression. Steps are derived data: the writers
(:mod:`symconv.explain.writers`, :mod:`symconv.explain.latex`) only print
them, and :mod:`symconv.explain.check` only evaluates them.

Two readings of the same step are kept: ``lhs``/``terms`` counted from 0,
what the JSON holds and the checks evaluate, and ``shown_lhs``/``shown``
counted from the document's index base, what the printers write.

:func:`json_string` is a step's side as the JSON holds it: SymPy's ``str()``
of the expression with the output sizes written out (``H_o`` is
``floor((H + 2*PH - DH*(KH - 1) - 1)/SH) + 1``), a max pool's selector as its
product of Heaviside steps, and the chain rule's primed indices (``i'``,
which ``parse_expr`` cannot read) renamed ``i1``.

>>> from sympy import Symbol
>>> from symconv.symbolic.tensors import base
>>> json_string(base("dy")[Symbol("n'"), Symbol("i'")])
'dy[n1, i1]'
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sympy import Integer, KroneckerDelta, Mul, Symbol

from symconv.formula.sums import FirstArgmax, IndexSum, offset_symbol

#: The quantities a step can be about: the forward's output, or a gradient.
QUANTITIES = ("y", "dx", "dw", "db")


@dataclass(frozen=True)
class Bracket:
    """An Iverson bracket around a condition, as a value of a :class:`Why`: ``[h = iS + kD - P]``."""

    condition: object


@dataclass(frozen=True)
class Why:
    """One sentence for a learner: ``template`` with ``{}`` places, filled by ``values``.

    A value is a SymPy expression (printed as mathematics), a
    :class:`Bracket`, a tuple (coordinates, printed ``(a, b)``), a list
    (printed ``a, b and c``), or a plain ``str``/``int`` (printed as it is).

    >>> Why("{} of {} outputs survive", (4, 9)).plain()
    '4 of 9 outputs survive'
    >>> (Why("a {}", (1,)) + Why(", b {}", (2,))).plain()
    'a 1, b 2'
    """

    template: str
    values: tuple = ()

    def __add__(self, other: Why) -> Why:
        return Why(self.template + other.template, self.values + other.values)

    def plain(self) -> str:
        """The sentence with every value as ``str()``: for doctests and messages."""
        return self.template.format(*(str(v) for v in self.values))


@dataclass(frozen=True)
class Step:
    """``lhs = rhs``: one step of a derivation, with its title and why.

    * ``key``: which step it is (``forward``, ``chain``, ``brackets``,
      ``solved``, ``tightened``, ``operator``, ``closed``);
    * ``quantity``: ``y`` for the forward, else the gradient it derives;
    * ``terms``: the right-hand side as IndexSums, or ``closed`` as one
      expression (a closed form);
    * ``vanished``: the forward's terms that drop out: ``(the derivative that
      is 0, for an underbrace (None at one entry), a Why, the term's own
      summation indices)``;
    * ``operator``: the operator notation the step's sum is (a key of
      :data:`symconv.explain.latex.OPERATORS`), or "";
    * ``formula``: the step's right-hand side is ``symconv formula``'s result.
    """

    key: str
    title: str
    quantity: str
    lhs: object
    why: Why
    terms: tuple = ()
    closed: object = None
    shown_lhs: object = None
    shown: tuple = ()
    shown_closed: object = None
    vanished: tuple = ()
    operator: str = ""
    formula: bool = False

    def expression(self):
        """The right-hand side, counted from 0, with the output sizes as symbols (``H_o``); built once."""
        if self.closed is not None:
            return self.closed
        if "_expression" not in self.__dict__:  # a frozen step: its expression never changes
            self.__dict__["_expression"] = sum((term_expression(t) for t in self.terms), Integer(0))
        return self.__dict__["_expression"]


@dataclass(frozen=True)
class Explanation:
    """A layer kind's derivation, step by step; at sizes and one entry when ``spec`` is given.

    ``axes`` are the formula's spatial axes (whose output sizes the steps
    use); ``at`` is ``(gradient, 0-based index)`` or None; ``report`` the
    :class:`~symconv.explain.check.CheckReport` once the steps are checked;
    ``sizes`` the layer's ``{size symbol: value}`` when ``spec`` is given.
    """

    kind: str
    steps: tuple
    axes: tuple
    index_base: int = 0
    spec: object = None
    at: tuple | None = None
    report: object = None
    sizes: dict | None = None

    def checked(self, report) -> Explanation:
        return replace(self, report=report)


def term_expression(term: IndexSum):
    """An IndexSum as one SymPy expression, its Kronecker deltas kept as factors of the body.

    (:meth:`IndexSum.expression` writes the brackets and bounds; the deltas
    are what the chain rule's terms still hold before they are solved.)
    """
    if not term.deltas:
        return term.expression()
    deltas = Mul(*(KroneckerDelta(a, b, evaluate=False) for a, b in term.deltas))
    return replace(term, body=term.body * deltas, deltas=()).expression()


def output_sizes(axes) -> dict:
    """``{H_o: floor((H + 2P - D(K-1) - 1)/S) + 1, ...}``: the output sizes written out."""
    return {a.out: a.out_size() for a in axes}


def unprimed(expr):
    """Every primed symbol ``v'``, summed over or not, renamed ``v1``: what ``parse_expr`` can read."""
    primed = {s: Symbol(s.name.replace("'", "1"), **s.assumptions0) for s in expr.atoms(Symbol) if "'" in s.name}
    return expr.xreplace(primed) if primed else expr


def evaluable(expr, sizes=None):
    """``expr`` as the checks evaluate it: the JSON's expression with the output sizes left as symbols (their
    values come with the layer's sizes), a max pool's selector written out."""
    if hasattr(expr, "replace") and expr.has(FirstArgmax):
        expr = expr.replace(lambda e: isinstance(e, FirstArgmax), lambda e: e.definition())
        if sizes:
            expr = expr.xreplace(sizes)
    return expr


def self_contained(expr, axes, sizes=None):
    """``expr`` as the JSON holds it: output sizes and max-pool selectors written out, primes renamed.

    ``sizes`` (``{size symbol: value}``) are a layer's: a selector's definition speaks of the window's
    sizes, which then become numbers too.
    """
    expr = expr.xreplace(output_sizes(axes)) if hasattr(expr, "xreplace") else expr
    if hasattr(expr, "replace"):
        expr = expr.replace(lambda e: isinstance(e, FirstArgmax), lambda e: e.definition())
        if sizes:
            expr = expr.xreplace(sizes)
    return unprimed(expr) if hasattr(expr, "atoms") else expr


def json_string(expr, axes=(), sizes=None) -> str:
    """One side of a step in the JSON's string form (see the module docstring)."""
    return str(self_contained(expr, axes, sizes))


def renamed(term: IndexSum, free) -> IndexSum:
    """The primed summation indices left in ``term`` renamed without their prime, where that frees no clash."""
    taken = {s.name for s in free}
    left = [l.var for l in term.limits] + [v for v, _ in term.solved]
    mapping = {}
    for var in left:
        plain = var.name.rstrip("'")
        if plain != var.name and plain not in taken:
            mapping[var] = offset_symbol(plain)
            taken.add(plain)
    return term.rename(mapping) if mapping else term


def without_implied(term: IndexSum, domains) -> IndexSum:
    """``term`` without the brackets on free indices alone that hold for every entry ([0 <= h <= H - 1])."""
    bound = {l.var for l in term.limits}
    free_only = tuple(s for s in term.spans if not (s.expr.free_symbols & bound))
    if not free_only:
        return term
    kept = replace(term, spans=free_only).tighten(domains).spans
    return replace(term, spans=tuple(s for s in term.spans if s not in free_only or s in kept))
