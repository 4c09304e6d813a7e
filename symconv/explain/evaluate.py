r"""Exact values of a step's expression: SymPy trees compiled to closures over integers and fractions.

A step of an explanation is an equation between SymPy expressions with sums,
Iverson brackets (``Piecewise``, ``KroneckerDelta``), divisibility, floors
and ceilings, and, for the chain rule, the derivative :math:`\partial y /
\partial x` itself. :func:`compile_expression` turns one into a function of an
environment that names every free symbol (``{"H": 5, "h": 2, ...}``), every
tensor (``{"x": lookup, ...}``) and, for a ``Derivative``, the callable
``"jacobian"``; the value is what ``.xreplace(values).doit()`` would give,
in Python integers and :class:`~fractions.Fraction` (SymPy's conventions
kept: a sum whose upper bound is below its lower bound minus one is minus
the sum over the gap, Karr's rule; ``Heaviside(a, h0)`` is ``h0`` at 0).

A sum is evaluated as nested loops, and each factor of its body (an Iverson
bracket, an element) is evaluated as soon as the summation indices it reads
are set: a bracket that is 0 skips every inner loop. The brackets of the
chain rule (one per Kronecker delta) then cost a loop over the outputs, not
over every (output, tap) pair. A factor inside a bracket's value is never
evaluated before the bracket, so an element is read only where its indices
are guarded in range.

>>> from sympy import IndexedBase, Piecewise, Sum, Symbol
>>> i, n = Symbol("i"), Symbol("n")
>>> f = compile_expression(Sum(Piecewise((IndexedBase("x")[i], i < n), (0, True)), (i, 0, 3)))
>>> f({"n": 2, "x": Tensor([5, 7, 9, 11])})
12
"""

from __future__ import annotations

import functools
import math
import operator
from fractions import Fraction

import numpy as np
from sympy import (
    Add, And, Derivative, Equality, GreaterThan, Heaviside, Indexed, KroneckerDelta, LessThan, Max, Min, Mod, Mul,
    Not, Or, Piecewise, Pow, Product, StrictGreaterThan, StrictLessThan, Sum, Symbol, Unequality, ceiling,
    false, floor, sympify, true,
)

from symconv.formula.sums import FirstArgmax

_RELATIONS = {StrictGreaterThan: operator.gt, GreaterThan: operator.ge, StrictLessThan: operator.lt,
              LessThan: operator.le, Equality: operator.eq, Unequality: operator.ne}
_CALLS = {Max: max, Min: min, floor: math.floor, ceiling: math.ceil, Mod: operator.mod}


class Tensor:
    """An array read at integer indices, refusing any index outside it (no wrap-around, no fraction).

    A step that reads outside a tensor has a wrong bound or a missing
    bracket; the check reports it instead of reading a neighbour.
    """

    def __init__(self, array):
        self.array = np.asarray(array, dtype=object)

    def __getitem__(self, index):
        whole = []
        for value in index:
            if isinstance(value, Fraction):
                if value.denominator != 1:
                    raise IndexError(f"read at {index}, a fraction")
                value = value.numerator
            whole.append(value)
        if len(whole) != self.array.ndim or any(not 0 <= v < s for v, s in zip(whole, self.array.shape)):
            raise IndexError(f"read at {tuple(whole)}, outside the shape {self.array.shape}")
        return self.array[tuple(whole)]


def _number(value):
    """A Fraction with denominator 1 as an int, so that indices and comparisons stay exact and simple."""
    return value.numerator if isinstance(value, Fraction) and value.denominator == 1 else value


def compile_expression(expr):
    """``expr`` (a SymPy expression, or a Python int) as a function of an environment; see the module docstring."""
    return _compile(sympify(expr), {})


def _compile(expr, memo):
    if expr in memo:
        return memo[expr]
    compiled = _build(expr, memo)
    memo[expr] = compiled
    return compiled


def _build(expr, memo):  # noqa: C901 (one branch per kind of node)
    kind = type(expr)
    if expr.is_Rational:
        value = int(expr) if expr.is_Integer else Fraction(int(expr.p), int(expr.q))
        return lambda env: value
    if expr is true or expr is false:
        truth = bool(expr)
        return lambda env: truth
    if isinstance(expr, Symbol):
        name = expr.name
        return lambda env: env[name]
    if isinstance(expr, Indexed):
        name, index = expr.base.name, [_compile(i, memo) for i in expr.indices]
        return lambda env: env[name][tuple([i(env) for i in index])]
    if kind is Sum:
        return _sum(expr, memo)
    if kind is Product:
        return _product(expr, memo)
    if kind is Piecewise:
        pieces = [(_compile(value, memo), _compile(condition, memo)) for value, condition in expr.args]
        return lambda env: next(value(env) for value, holds in pieces if holds(env))
    if isinstance(expr, FirstArgmax):
        return _compile(expr.definition(), memo)
    if kind is KroneckerDelta:
        a, b = (_compile(arg, memo) for arg in expr.args)
        return lambda env: 1 if a(env) == b(env) else 0
    if kind is Derivative:
        return _derivative(expr, memo)
    args = [_compile(a, memo) for a in expr.args]
    if kind is Add:
        if len(args) == 2:
            first, second = args
            return lambda env: _number(first(env) + second(env))
        return lambda env: _number(sum(a(env) for a in args))
    if kind is Mul:
        return functools.partial(_lazy_product, _ordered(expr.args, args))
    if kind is And:
        return lambda env: all(a(env) for a in args)
    if kind is Or:
        return lambda env: any(a(env) for a in args)
    if kind is Not:
        return lambda env: not args[0](env)
    if kind is Heaviside:
        step, at_zero = args[0], (args[1] if len(args) > 1 else (lambda env: Fraction(1, 2)))
        return lambda env: _heaviside(step(env), at_zero, env)
    if kind in _RELATIONS:
        relation, (a, b) = _RELATIONS[kind], args
        return lambda env: relation(a(env), b(env))
    if kind is Pow and expr.exp.is_Integer:
        base, power = args[0], int(expr.exp)
        return lambda env: _number(Fraction(base(env)) ** power) if power < 0 else base(env) ** power
    if kind in _CALLS:
        call = _CALLS[kind]
        return lambda env: _number(call(*(a(env) for a in args)))
    raise TypeError(f"compile_expression: got a {kind.__name__} ({expr}), expected a node of symconv's steps")


def _heaviside(value, at_zero, env):
    return 1 if value > 0 else 0 if value < 0 else at_zero(env)


def _is_guard(expr) -> bool:
    """A factor that is 0 or 1 and cheap: evaluated before the elements beside it."""
    return isinstance(expr, (KroneckerDelta, Piecewise, FirstArgmax))


def _ordered(factors, compiled):
    """The compiled factors, brackets and factors that read no element first: a 0 among them spares reading
    the elements (a max pool's selector reads x only at taps its steps have found inside x)."""
    pairs = sorted(zip(factors, compiled), key=lambda pair: (not _is_guard(pair[0]), pair[0].has(Indexed)))
    return [c for _, c in pairs]


def _lazy_product(factors, env):
    total = 1
    for factor in factors:
        value = factor(env)
        if value == 0:
            return 0
        total *= value
    return _number(total)


def _derivative(expr, memo):
    r"""``Derivative(y[o], t[e])``: :math:`\partial y_o / \partial t_e`, asked of ``env["jacobian"]``."""
    of, (by, count) = expr.expr, expr.variable_count[0]
    if len(expr.variable_count) != 1 or count != 1 or not isinstance(of, Indexed) or not isinstance(by, Indexed):
        raise TypeError(f"compile_expression: got {expr}, expected a first derivative of one element by another")
    out, at = [_compile(i, memo) for i in of.indices], [_compile(i, memo) for i in by.indices]
    name = by.base.name
    return lambda env: env["jacobian"](name, tuple(i(env) for i in out), tuple(i(env) for i in at))


def _factors(expr, memo, after=frozenset()):
    """``[(compiled, symbols it reads, symbols it must wait for)]``: the body of a sum split into factors.

    A bracket's value waits for the bracket's own symbols (``after``), so it
    is evaluated only where the bracket holds; an ``And`` is one factor per
    condition, each placed as early as it can be.
    """
    found = []
    for factor in Mul.make_args(expr):
        if isinstance(factor, Piecewise) and len(factor.args) == 2 and factor.args[1] == (0, True):
            value, condition = factor.args[0]
            conditions = And.make_args(condition)
            names = frozenset(after).union(*(c.free_symbols for c in conditions))
            found += [(_compile(c, memo), c.free_symbols, after, True) for c in conditions]
            found += _factors(value, memo, names)
        else:
            found.append((_compile(factor, memo), factor.free_symbols, after, isinstance(factor, KroneckerDelta)))
    return found


def loop_order(limits, brackets) -> list:
    """The summation limits in the order to loop over them: as given, or, when no bound reads another summation
    index (every range is fixed), the indices that more brackets hold first, so that a bracket that is 0
    cuts the loops short at once. A finite sum over fixed ranges does not depend on the order of its loops.

    ``limits`` are ``(var, lo, hi)``, outermost first; ``brackets`` the symbol sets of the brackets.
    """
    variables = {limit[0] for limit in limits}
    if any((sympify(lo).free_symbols | sympify(hi).free_symbols) & variables for _, lo, hi in limits):
        return list(limits)
    held = {v: sum(v in symbols for symbols in brackets) for v in variables}
    return sorted(limits, key=lambda limit: -held[limit[0]])


def _sum(expr, memo):
    """Nested loops (:func:`loop_order`); each factor evaluated at the loop of the last index it reads."""
    factors = _factors(expr.function, memo)
    limits = loop_order(list(reversed(expr.limits)),  # SymPy lists the innermost first
                        [symbols for _, symbols, _, bracket in factors if bracket])
    variables = [limit[0] for limit in limits]
    levels = [[] for _ in range(len(limits) + 1)]  # level 0: before any loop
    for compiled, symbols, after, _ in factors:
        needed = [variables.index(v) + 1 for v in set(symbols) | set(after) if v in variables]
        levels[max(needed, default=0)].append(compiled)
    bounds = [(limit[0].name, _compile(limit[1], memo), _compile(limit[2], memo)) for limit in limits]

    def run(level, env):
        total = 1
        for factor in levels[level]:
            value = factor(env)
            if value == 0:
                return 0
            total *= value
        if level == len(bounds):
            return total
        name, lo, hi = bounds[level]
        first, last = lo(env), hi(env)
        span = range(first, last + 1) if last >= first - 1 else range(last + 1, first)
        inner = 0
        saved = env.get(name, _MISSING)
        for value in span:
            env[name] = value
            inner += run(level + 1, env)
        _restore(env, name, saved)
        return total * (inner if last >= first - 1 else -inner)

    return lambda env: _number(run(0, env))


_MISSING = object()


def _restore(env, name, saved):
    if saved is _MISSING:
        env.pop(name, None)
    else:
        env[name] = saved


def _product(expr, memo):
    """A product over its limits, Karr's rule for a reversed range (one over the gap's product)."""
    body = _compile(expr.function, memo)
    bounds = [(limit[0].name, _compile(limit[1], memo), _compile(limit[2], memo)) for limit in expr.limits]

    def run(level, env):
        if level < 0:
            return body(env)
        name, lo, hi = bounds[level]
        first, last = lo(env), hi(env)
        span = range(first, last + 1) if last >= first - 1 else range(last + 1, first)
        total = 1
        saved = env.get(name, _MISSING)
        for value in span:
            env[name] = value
            total *= run(level - 1, env)
        _restore(env, name, saved)
        return total if last >= first - 1 else 1 / Fraction(total)

    return lambda env: _number(run(len(bounds) - 1, env))
