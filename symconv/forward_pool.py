r"""Forward definitions of pooling and activation layers, as SymPy expressions.

Max pooling is written so that differentiating it gives PyTorch's gradient
for every input, ties included. Each output is

.. math::  y_o = \sum_{a \in W_o} x_a \, [x_a \text{ is the first maximum of } W_o]

where the indicator is a ``Piecewise`` whose condition says that ``x_a`` is
greater than every element before it in the window (row-major scan order)
and at least every element after it. Exactly one indicator per window is 1,
so ``y_o`` equals the maximum, and since an indicator is constant wherever it
is differentiable, ``d y_o / d x_a`` is the indicator itself: ``dy_o`` goes to
the first maximum, as PyTorch's CPU kernels send it. Padding is -inf and
never selected, so padded positions simply do not appear.

Average pooling is ``y_o = (1/divisor) * sum of the window's in-bounds x``;
ReLU is ``Piecewise((x, x > 0), (0, True))`` (derivative 0 at 0, as PyTorch)
and leaky ReLU ``Piecewise((x, x > 0), (slope*x, True))`` (slope at 0).

>>> from symconv.spec_pool import pool_spec
>>> y = pool_forward(pool_spec("maxpool1d", (1, 1, 2), kernel=2))
>>> y[(0, 0, 0)]
Piecewise((1, x[0, 0, 0] >= x[0, 0, 1]), (0, True))*x[0, 0, 0] + Piecewise((1, x[0, 0, 1] > x[0, 0, 0]), (0, True))*x[0, 0, 1]
"""

from __future__ import annotations

import itertools

from sympy import Add, And, Basic, GreaterThan, Mul, Piecewise, Rational, S, StrictGreaterThan, default_sort_key

from symconv.spec_pool import ActivationSpec, PoolSpec
from symconv.tensors import element, indices


def all_of(conditions):
    """``And(*conditions)`` for comparisons between distinct elements.

    The same object as SymPy's ``And`` builds (its arguments in SymPy's
    canonical order, so it prints and compares the same; a test holds them
    equal), without ``And``'s search for duplicate or contradictory
    conditions, of which a window has none. That search cost about 0.6 ms
    for a 3x3 window's eight comparisons: seconds for a 32x32 max pool.
    """
    if len(conditions) == 1:
        return conditions[0]
    conjunction = Basic.__new__(And, *sorted(conditions, key=default_sort_key))
    conjunction._argset = frozenset(conditions)
    return conjunction


def first_maximum_indicator(candidate, before, after):
    """``Piecewise((1, cond), (0, True))``: ``candidate`` is the window's first maximum."""
    conditions = [StrictGreaterThan(candidate, other, evaluate=False) for other in before]
    conditions += [GreaterThan(candidate, other, evaluate=False) for other in after]
    if not conditions:
        return S.One
    # evaluate=False: SymPy's simplification of the conditions costs
    # milliseconds per window and can only restate them.
    return Piecewise((1, all_of(conditions)), (0, True), evaluate=False)


def _window_elements(spec: PoolSpec, index, input_name):
    """The in-bounds elements of one output's window, in row-major scan order."""
    n, c, position = index[0], index[1], index[2:]
    per_axis = [spec.windows(axis)[o][1] for axis, o in enumerate(position)]
    return [element(input_name, (n, c) + where) for where in itertools.product(*per_axis)]


def pool_forward(spec: PoolSpec, input_name: str = "x") -> dict:
    """Every output of a max or average pooling layer, keyed by index."""
    forward = {}
    for index in indices(spec.output_shape):
        window = _window_elements(spec, index, input_name)
        if spec.is_max:
            forward[index] = Add(*(
                Mul(a, first_maximum_indicator(a, window[:j], window[j + 1:]))
                for j, a in enumerate(window)
            ))
        else:
            forward[index] = Mul(Rational(1, spec.divisor(index)), Add(*window))
    return forward


def activation_forward(spec: ActivationSpec, input_name: str = "x") -> dict:
    """Every output of ReLU or leaky ReLU, keyed by index."""
    forward = {}
    for index in indices(spec.input):
        z = element(input_name, index)
        forward[index] = Piecewise((z, z > 0), (Rational(spec.negative_slope) * z, True), evaluate=False)
    return forward
