r"""Max pooling on numbers: which input receives each dy, ties included.

A max-pool gradient depends on the values of x: ``dy_o`` goes to the first
maximum of its window in row-major order (PyTorch's rule, ties included).
This module computes that routing; :mod:`symconv.plot.pool` draws it.

* :func:`pool_values`: x for a picture: ``"ties"`` (seeded small integers,
  at least one tied window) or ``"distinct"`` (a seeded shuffle, no ties).
* :func:`derived_routing`: the receivers read off the derived dx, each term
  :math:`dy_o\,[x_a \text{ is the first maximum of } W_o]` decided at the
  values (:mod:`symconv.engine.evaluate`); :func:`route_values` applies PyTorch's
  rule to the numbers directly, and tests hold the two, and the reference
  kernel's backward, equal.

>>> import numpy as np
>>> maxpool_routing(np.ones((2, 2)), kernel=2, stride=2).ties.tolist()
[[True]]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from symconv.errors import SymconvError

#: The kinds of generated values.
VALUE_KINDS = ("ties", "distinct")
#: "ties" draws integers 0..TIE_LEVELS-1: few levels, so windows often tie.
TIE_LEVELS = 5


@dataclass(frozen=True, eq=False)
class MaxPoolRouting:
    """Where max pooling sends each dy, at given values of x.

    ``winners[o]`` is the index of x that receives ``dy[o]``, ``ties[o]``
    says the window's maximum occurs more than once, ``maxima[o]`` (tied
    windows only) lists every position holding it in scan order, winner
    first, and ``received[a]`` counts the dy entries input ``a`` receives
    (overlapping windows can send it several); ``windows`` holds per spatial
    axis each window's input positions along it. Indices have the rank of the
    values given: full ``(n, c, i, j)`` for a layer's x, ``(i, j)`` for a
    bare 2-D array.
    """

    winners: np.ndarray
    ties: np.ndarray
    received: np.ndarray
    windows: tuple = field(repr=False)
    maxima: dict = field(default_factory=dict, repr=False)


# -- values -------------------------------------------------------------------


def _check_max_pool(spec):
    from symconv.layers import rule_for

    if spec.is_stack or not rule_for(spec).winner or spec.ndim > 2:
        raise SymconvError(f"layer: got {spec.kind!r}, expected a 1-D or 2-D max pool for a max-pool picture")


def _windows(spec):
    """Per output index, its window's in-bounds x indices in row-major scan order."""
    per_axis = [spec.windows(axis) for axis in range(spec.ndim)]
    for index in np.ndindex(*spec.output_shape):
        lead, position = index[:2], index[2:]
        taps = itertools.product(*(per_axis[axis][o][1] for axis, o in enumerate(position)))
        yield index, [lead + tap for tap in taps]


def as_values(spec, x, source="values"):
    """``x`` as floats of shape ``spec.input``: same count (row-major), finite."""
    x = np.asarray(x, dtype=float)
    size = math.prod(spec.input)
    if x.size != size:
        raise SymconvError(
            f"values: got {x.size} numbers from {source}, expected {size}, "
            f"the input {'x'.join(map(str, spec.input))} in row-major order"
        )
    if not np.isfinite(x).all():
        raise SymconvError(f"values: got a value that is not finite in {source}, expected finite numbers")
    return x.reshape(spec.input)


def _tied_values(spec, rng):
    x = rng.integers(0, TIE_LEVELS, size=spec.input).astype(float)
    first = [(o, taps) for o, taps in _windows(spec) if o[:2] == (0, 0) and len(taps) > 1]
    if first and not any(route_values(spec, x).ties[o] for o, _ in first):
        # No tie in the first slice by chance: copy a window's maximum onto
        # another of its taps, so the picture shows what a tie does.
        _, taps = first[0]
        top = max(taps, key=lambda tap: x[tap])
        x[next(tap for tap in taps if tap != top)] = x[top]
    return x


def pool_values(spec, kind: str = "ties", seed: int = 0) -> np.ndarray:
    """Seeded values of x for a max-pool picture, of shape ``spec.input``.

    ``"ties"``: integers 0 to 4, the first slice with at least one tied
    window whenever its windows hold two taps; ``"distinct"``: 1 to
    N*C*H*W shuffled, so no window ties. (The CLI also reads numbers and
    files: :func:`symconv.cli.extra.read_values`.)

    >>> from symconv.spec.pool import pool_spec
    >>> spec = pool_spec("maxpool1d", (1, 1, 4), kernel=2)
    >>> bool(route_values(spec, pool_values(spec, "ties")).ties.any())
    True
    """
    _check_max_pool(spec)
    rng = np.random.default_rng(seed)
    if kind == "ties":
        return _tied_values(spec, rng)
    if kind == "distinct":
        return (rng.permutation(math.prod(spec.input)) + 1).astype(float).reshape(spec.input)
    raise SymconvError(f"values: got {kind!r}, expected one of {', '.join(VALUE_KINDS)}")


# -- routing --------------------------------------------------------------------


def _routing(spec, x, receiver_of):
    """A MaxPoolRouting whose winners come from ``receiver_of(o, taps)``."""
    out = spec.output_shape
    winners = np.zeros(out + (len(out),), dtype=int)
    ties = np.zeros(out, dtype=bool)
    received = np.zeros(spec.input, dtype=int)
    maxima = {}
    for o, taps in _windows(spec):
        top = max(x[tap] for tap in taps)
        best = [tap for tap in taps if x[tap] == top]
        winners[o] = winner = receiver_of(o, best)
        received[winner] += 1
        if len(best) > 1:
            ties[o] = True
            maxima[o] = tuple([winner] + [tap for tap in best if tap != winner])
    windows = tuple(tuple(tuple(p) for _, p in spec.windows(axis)) for axis in range(spec.ndim))
    return MaxPoolRouting(winners, ties, received, windows, maxima)


def route_values(spec, x_values) -> MaxPoolRouting:
    """PyTorch's rule on numbers: each dy goes to its window's first maximum (row-major).

    Independent of SymPy; :func:`derived_routing` must agree with it.
    """
    _check_max_pool(spec)
    return _routing(spec, as_values(spec, x_values), lambda o, best: best[0])


def derived_receivers(derivation, x_values) -> dict:
    """``{output index: [x indices]}``: where the derived dx sends each dy at these values.

    Each term of ``gradients["dx"][a]`` is ``dy_o`` times a coefficient (an
    indicator, and 1/N for the mean); ``a`` receives ``dy_o`` when that
    coefficient is not 0 at the values.
    """
    from sympy import Add, Indexed, Mul

    from symconv.engine.evaluate import evaluate

    spec = derivation.spec
    _check_max_pool(spec)
    values = {"x": as_values(spec, x_values)}
    receivers = {o: [] for o in np.ndindex(*spec.output_shape)}
    for a, expr in derivation.gradients["dx"].items():
        for term in Add.make_args(expr):
            if term == 0:  # an input no window reads
                continue
            factors = Mul.make_args(term)
            upstream = [f for f in factors if isinstance(f, Indexed) and f.base.name == "dy"]
            if len(upstream) != 1:
                raise SymconvError(f"dx{tuple(a)}: got the term {term}, expected one dy entry times a coefficient")
            rest = Mul(*(f for f in factors if f is not upstream[0]))
            if evaluate(rest, values) != 0:
                receivers[tuple(int(i) for i in upstream[0].indices)].append(tuple(int(i) for i in a))
    return receivers


def derived_routing(derivation, x_values) -> MaxPoolRouting:
    """Where the derived dx sends each dy at these values, ties found from the values."""
    receivers = derived_receivers(derivation, x_values)

    def receiver_of(o, best):
        if len(receivers[o]) != 1:
            raise SymconvError(f"dy{o}: the derived dx sends it to {receivers[o]}, expected exactly one input")
        return receivers[o][0]

    return _routing(derivation.spec, as_values(derivation.spec, x_values), receiver_of)


def maxpool_routing(x_values, kernel, stride=None, padding=0, dilation=1, ceil_mode=False) -> MaxPoolRouting:
    """PyTorch's rule on a bare 1-D or 2-D array (a 1-D input is one row).

    ``stride`` defaults to the kernel, as in PyTorch; indices are ``(i, j)``.

    >>> r = maxpool_routing(np.ones((4, 4)), 2, 2)
    >>> bool(r.ties.all()), r.winners[1, 1].tolist()
    (True, [2, 2])
    """
    return spatial_slice(route_values(*array_spec(x_values, kernel, stride, padding, dilation, ceil_mode)))


def array_spec(x_values, kernel, stride, padding, dilation, ceil_mode):
    from symconv.spec.pool import pool_spec

    x = np.asarray(x_values, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
        # One row: the window spans it alone (kernel 1, no padding, no dilation across rows).
        kernel, stride, padding, dilation = (
            (lead, v) if isinstance(v, (int, np.integer)) else v
            for lead, v in ((1, kernel), (1, stride), (0, padding), (1, dilation))
        )
    if x.ndim != 2:
        raise SymconvError(f"x: got an array of shape {x.shape}, expected a 1-D or 2-D input")
    # The layer's own validation: kernel, stride, padding and dilation are checked there.
    return pool_spec("maxpool2d", (1, 1) + x.shape, kernel, stride, padding, dilation, ceil_mode), x[None, None]


def spatial_slice(routing):
    """A routing of one (n, c) = (0, 0) slice, with spatial indices only."""
    maxima = {o[2:]: tuple(tap[2:] for tap in taps) for o, taps in routing.maxima.items()}
    return MaxPoolRouting(routing.winners[0, 0, ..., 2:], routing.ties[0, 0], routing.received[0, 0],
                          routing.windows, maxima)


__all__ = ["MaxPoolRouting", "VALUE_KINDS", "pool_values", "route_values", "derived_receivers", "derived_routing",
           "maxpool_routing", "as_values"]
