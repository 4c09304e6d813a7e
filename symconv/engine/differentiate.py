"""The chain rule: gradients of one layer's forward, by the product rule.

Given outputs ``y_i`` as expressions and the upstream gradient ``dy``, the
loss is ``L = sum_i dy_i y_i`` and for every input element ``a``

.. math::  \\frac{\\partial L}{\\partial a} = \\sum_i dy_i \\frac{\\partial y_i}{\\partial a}.

Sparsity is used from the start: each ``y_i`` is visited once and only the
elements it actually contains receive a term, so the cost is linear in the
number of terms (differentiating L itself w.r.t. every input is quadratic).

The rule that gives ``dy_i/da`` is the product rule. A forward held as a
:class:`~symconv.symbolic.terms.TermTable` (a sum of products per output, which is
what a convolution is) is differentiated all at once with arrays: for every
term and every factor slot, the term's derivative with respect to that
factor is the product of the other factors (its co-factor), so the whole
chain rule is one pass over the forward's terms,
:func:`differentiate_terms`. A factor that is a function of one element
(a ReLU's ramp; :mod:`symconv.symbolic.atoms`) contributes its derivative
factor (the ramp's step) times its co-factor; a piecewise-constant one (a
max pool's winner indicator) contributes nothing. Forwards given as SymPy
expressions (anything else) go through :func:`differentiate`, the same
co-factor rule one output at a time, or SymPy's ``diff`` (its methods and
an example are in :mod:`symconv.engine.structural`, which alone loads SymPy).

Tests show all of them equal to SymPy's ``diff``, entry by entry, on a grid
of layers.
"""

from __future__ import annotations

import numpy as np

from symconv.symbolic.tensors import gradient_name
from symconv.symbolic.terms import NO_FACTOR, TermTable


def differentiate(forward, shapes, upstream: str = "dy", method: str = "structural"):
    """Gradients of SymPy expressions, one output at a time (:func:`symconv.engine.structural.differentiate`)."""
    from symconv.engine.structural import differentiate as one_at_a_time

    return one_at_a_time(forward, shapes, upstream=upstream, method=method)


def differentiate_terms(forward: TermTable, wrt, upstream: str = "dy") -> dict[str, TermTable]:
    """Gradients of ``L = sum_i upstream_i * forward_i`` by the product rule, vectorized.

    For a term ``t = f_1 f_2 ... f_k`` of output ``i`` and each slot ``j``,
    ``d t / d f_j`` is the product of the other factors, so the gradient of
    the tensor owning ``f_j`` receives the term ``upstream_i * prod_{l != j} f_l``
    at ``f_j``'s entry. A factor repeated in a term contributes once per slot,
    which is the product rule for powers. The upstream tensor must be in the
    forward's element space, with the forward's shape (it is added if not).
    """
    forward = forward.with_tensor(upstream, forward.shape)
    space = forward.space
    upstream_ids = space.offsets[upstream] + forward.entry
    width = forward.factors.shape[1]
    owners = space.owner(np.where(forward.factors == NO_FACTOR, 0, forward.factors))
    positions = {name: space.names.index(name) for name in wrt}
    pieces = {name: ([], []) for name in wrt}

    def add(name, entries, columns):
        pieces[name][0].append(entries - space.offsets[name])
        pieces[name][1].append(np.stack(columns, axis=1))

    for slot in range(width):
        ids = forward.factors[:, slot]
        others = [forward.factors[:, j] for j in range(width) if j != slot]
        for name in wrt:
            mine = (ids != NO_FACTOR) & (owners[:, slot] == positions[name])
            if mine.any():
                add(name, ids[mine], [upstream_ids[mine]] + [o[mine] for o in others])
        # A factor f(z) of one element z: its partial is f'(z), a factor of the derivative family.
        for family, offset in zip(space.families, space.family_offsets):
            inside = (ids >= offset) & (ids < offset + family.size)
            if family.derivative is None or not inside.any():
                continue
            k = ids[inside] - offset
            z, partial = family.args[k], space.family_of(family.derivative) + k
            z_owner = space.owner(z)
            for name in wrt:
                mine = z_owner == positions[name]
                if mine.any():
                    add(name, z[mine], [upstream_ids[inside][mine]] + [o[inside][mine] for o in others]
                        + [partial[mine]])
    gradients = {}
    for name in wrt:
        entries, factors = pieces[name]
        wide = max([width] + [f.shape[1] for f in factors])
        factors = [np.concatenate([f, np.full((len(f), wide - f.shape[1]), NO_FACTOR, np.int64)], axis=1)
                   for f in factors]
        if not entries:
            entries, factors = [np.zeros(0, np.int64)], [np.zeros((0, width), np.int64)]
        gradients[gradient_name(name)] = TermTable(
            space, space.shapes[name], np.concatenate(entries), np.concatenate(factors)
        ).canonical()  # an average's terms in the order its sums were always evaluated in
    return gradients
