"""Rebuild a gradient entry as a formula by probing: which dy (and w, or x) entries it is made of.

A convolution's ``dx`` is bilinear in ``dy`` and ``w``: calling the backward
with ``dy`` one-hot at output ``o`` and ``w`` one-hot at tap ``k`` returns, in
each entry of ``dx``, the coefficient of ``dy[o] * w[k]``. The dy entries
that matter are found first (one call per dy entry at the probe's ``w``), so
only they are paired with every tap. A pool's or an activation's ``dx`` is
linear in ``dy`` at the probe's ``x``. A formula is kept only if it gives
back the function's own value at the probe; a function that is not bilinear
gets none.
"""

from __future__ import annotations

import numpy as np

from symconv.check.probes import same

#: At most this many calls of the user's function to rebuild the wrong entries of one gradient.
CALL_BUDGET = 1500


def _hot(shape, flat):
    array = np.zeros(shape)
    array.flat[flat] = 1.0
    return array


def _value(terms, values):
    return sum(c * np.prod([values[name][index] for name, index in factors]) for c, factors in terms)


def formulas(call, values: dict, gradient: str, entries: list[tuple], partner: str | None):
    """``{entry: terms}``, each term ``(coefficient, ((name, index), ...))``; None when over the budget or not bilinear.

    ``call(values)`` returns the gradients at ``values``; the probe's other
    tensors stay as they are.
    """
    dy_shape = values["dy"].shape
    size = int(np.prod(dy_shape))
    if size > CALL_BUDGET:
        return None
    picked = [tuple(e) for e in entries]
    first = np.empty((len(picked), size))
    for o in range(size):
        out = call({**values, "dy": _hot(dy_shape, o)})[gradient]
        first[:, o] = [out[e] for e in picked]
    terms = {e: [] for e in picked}
    if partner is None:
        for i, e in enumerate(picked):
            terms[e] = [(first[i, o], (("dy", np.unravel_index(o, dy_shape)),))
                        for o in range(size) if first[i, o] != 0]
    else:
        used = [o for o in range(size) if np.any(first[:, o] != 0)]
        shape = values[partner].shape
        count = int(np.prod(shape))
        if size + len(used) * count > CALL_BUDGET:
            return None
        for o in used:
            for k in range(count):
                out = call({**values, "dy": _hot(dy_shape, o), partner: _hot(shape, k)})[gradient]
                for e in picked:
                    if out[e] != 0:
                        terms[e].append((out[e], (("dy", np.unravel_index(o, dy_shape)),
                                                  (partner, np.unravel_index(k, shape)))))
    at_probe = call(values)[gradient]
    for e in picked:
        if not same(np.array([_value(terms[e], values)]), np.array([at_probe[e]])):
            return None
    return {e: [(float(c), tuple((name, tuple(int(i) for i in index)) for name, index in factors))
                for c, factors in terms[e]] for e in picked}
