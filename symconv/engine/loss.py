r"""dy = dL/dy, derived from a loss's definition by differentiating it.

The loss is a sum of terms (:mod:`symconv.layers.loss`), each reading a few
elements of y (one for mse, one row for cross-entropy), so each element's
derivative is taken of the terms that read it only: the others do not
contain it, and skipping them keeps the cost linear in y's size.

The derivative is taken by the chain rule over the term's tree
(:func:`partial`: sums, products, integer powers, exp and log), not by
``sympy.diff``, which took about 20 ms per element on these ``Indexed``
elements (its assumptions machinery): 220 s for the mse of a 1x8x32x32
output. Tests hold the two equal.

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

from sympy import Add, Integer, Mul, Pow, S, exp, log

from symconv.layers.loss import loss_rule_for


def read_back_form(expr, scaled_sums=None):
    """``expr`` with a rational coefficient p/q of a term ``.../(sum)`` moved as q into the sum.

    That is how ``parse_expr`` reads the ``str()`` of such a term; other
    terms are left as they are. ``scaled_sums`` remembers each scaled sum
    (a row of cross-entropy shares one denominator).
    """
    scaled_sums = {} if scaled_sums is None else scaled_sums
    terms = []
    for term in Add.make_args(expr):
        coefficient, rest = term.as_coeff_Mul()
        reciprocals = [f for f in Mul.make_args(rest) if isinstance(f, Pow) and f.exp == -1 and f.base.is_Add]
        if coefficient.is_Rational and coefficient.q != 1 and len(reciprocals) == 1:
            (reciprocal,) = reciprocals
            others = [f for f in Mul.make_args(rest) if f is not reciprocal]
            key = (reciprocal.base, coefficient.q)
            if key not in scaled_sums:
                scaled_sums[key] = Add(*[Integer(coefficient.q) * a for a in reciprocal.base.args])
            term = Mul(Integer(coefficient.p), *others, Pow(scaled_sums[key], -1))
        terms.append(term)
    return Add(*terms)


def partial(expr, y):
    """``d expr / d y`` by the chain rule, for sums, products, integer powers, exp and log of ``y``.

    A subexpression without ``y`` (a target, a label's indicator) contributes
    nothing; anything else falls back to SymPy's ``diff``.

    >>> from symconv.symbolic.tensors import element
    >>> y, t = element("y", (0, 1)), element("t", (0, 1))
    >>> partial((y - t) ** 2 / 3, y)
    -2*t[0, 1]/3 + 2*y[0, 1]/3
    """
    if expr == y:
        return S.One
    if not expr.has(y):
        return S.Zero
    if expr.is_Add:
        return Add(*[partial(a, y) for a in expr.args if a.has(y)])
    if expr.is_Mul:
        factors = expr.args
        return Add(*[Mul(*factors[:i], partial(f, y), *factors[i + 1:])
                     for i, f in enumerate(factors) if f.has(y)])
    if expr.is_Pow and expr.exp.is_Integer:
        return Mul(expr.exp, Pow(expr.base, expr.exp - 1), partial(expr.base, y))
    if isinstance(expr, exp):
        return Mul(expr, partial(expr.args[0], y))
    if isinstance(expr, log):
        return Mul(partial(expr.args[0], y), Pow(expr.args[0], -1))
    return expr.diff(y)


def derive_loss(loss) -> dict:
    """``{index: dL/dy[index]}`` for every element of y, from the loss's definition."""
    gradient = {}
    for term, elements in loss_rule_for(loss).terms(loss):
        for y in elements:
            index = tuple(int(i) for i in y.indices)
            gradient[index] = gradient.get(index, S.Zero) + partial(term, y)
    scaled_sums = {}
    return {index: read_back_form(expr, scaled_sums) for index, expr in sorted(gradient.items())}
