r"""dy = dL/dy, derived from a loss's definition by differentiating it.

The loss is a sum of terms (:mod:`symconv.layers.loss`), each reading a few
elements of y (one for mse, one row for cross-entropy), so each element's
derivative is taken of the terms that read it only: the others do not
contain it, and skipping them keeps the cost linear in y's size.

For cross-entropy under ``mean`` SymPy's derivative holds the reduction as
a coefficient beside a reciprocal, ``exp(y[0, 0])*(1/2)*(exp(y[0, 0]) + ...)**-1``,
which ``str()`` writes ``exp(y[0, 0])/(2*(exp(y[0, 0]) + ...))`` and
``parse_expr`` reads back with the 2 multiplied into the sum. The
derivative is given in that read-back form (:func:`read_back_form`), the
same value, so that the JSON strings read back to exactly these expressions.

>>> from symconv.spec.loss import loss_spec
>>> derive_loss(loss_spec("cross_entropy", "mean", (2, 2)))[(0, 1)]
-KroneckerDelta(1, t[0])/2 + exp(y[0, 1])/(2*exp(y[0, 0]) + 2*exp(y[0, 1]))
"""

from __future__ import annotations

from sympy import Add, Integer, Mul, Pow, S

from symconv.layers.loss import loss_rule_for


def read_back_form(expr):
    """``expr`` with a rational coefficient p/q of a term ``.../(sum)`` moved as q into the sum.

    That is how ``parse_expr`` reads the ``str()`` of such a term; other
    terms are left as they are.
    """
    terms = []
    for term in Add.make_args(expr):
        coefficient, rest = term.as_coeff_Mul()
        reciprocals = [f for f in Mul.make_args(rest) if isinstance(f, Pow) and f.exp == -1 and f.base.is_Add]
        if coefficient.is_Rational and coefficient.q != 1 and len(reciprocals) == 1:
            (reciprocal,) = reciprocals
            others = [f for f in Mul.make_args(rest) if f is not reciprocal]
            scaled = Add(*[Integer(coefficient.q) * a for a in reciprocal.base.args])
            term = Mul(Integer(coefficient.p), *others, Pow(scaled, -1))
        terms.append(term)
    return Add(*terms)


def derive_loss(loss) -> dict:
    """``{index: dL/dy[index]}`` for every element of y, from the loss's definition."""
    gradient = {}
    for term, elements in loss_rule_for(loss).terms(loss):
        for y in elements:
            index = tuple(int(i) for i in y.indices)
            gradient[index] = gradient.get(index, S.Zero) + term.diff(y)
    return {index: read_back_form(expr) for index, expr in sorted(gradient.items())}
