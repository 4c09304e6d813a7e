"""Prove a stack's derivation, layer by layer and end to end.

The derived expressions are evaluated along the chain (each layer's forward
from the previous layer's values, then each layer's gradients from the next
layer's upstream gradient) and every tensor, intermediate or not, is
compared with the reference kernels composed the same way. Finite
differences of the composed reference loss check dx and every parameter's
gradient end to end, and the whole chain is also evaluated exactly in
rational arithmetic, including a constant input (ties in every max window).

Finite differences are meaningless at ties and kinks, and inside a stack the
inputs of a ReLU or a max pool are conv outputs, which no choice of x alone
keeps away from them (the single-layer verifier's grid of distinct values).
So the random values are drawn again, from the same seeded generator, until
every (leaky) ReLU input along the reference chain is at least
:data:`KINK_STEPS` steps from 0 and every max-pool window's winner at least
that far from its runner-up; after :data:`MAX_DRAWS` draws the report says
it failed rather than passing on finite differences that prove nothing.
Values a plain ReLU clamped to 0 are constant, so a tie among them (a window
of clamped zeros) cannot change which one wins and is not a kink.

>>> from symconv.spec.stack import derive_stack, parse_layers, stack_spec
>>> spec = stack_spec((1, 1, 4, 4), parse_layers("conv2d(weight=1,1,2,2) | relu"))
>>> verify_stack(derive_stack(spec)).passed
True
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from symconv import reference
from symconv.engine.evaluate import evaluate_table
from symconv.spec.conv import ConvSpec
from symconv.spec.pool import PoolSpec
from symconv.verify.layer import (
    EXACT_TERM_LIMIT,
    Check,
    Report,
    _fractions,
    finite_differences,
    layer_kernels,
    rel_error,
)

#: The finite-difference step. Small, so that few draws land within
#: KINK_STEPS of a kink even in large stacks; round-off at this step is
#: about 1e-10, far below the tolerance.
FD_STEP = 1e-6
#: How many steps every kink must be away from the drawn values. A step of a
#: leaf moves a ReLU input or a max-pool candidate by the leaf's gain, so
#: this also covers gains up to this size.
KINK_STEPS = 10
#: Draws tried before the report gives up on keeping away from kinks.
MAX_DRAWS = 20


@dataclass(frozen=True)
class StackReport(Report):
    """A stack's checks, and how far the finite differences started from any kink.

    ``kink_distance`` is the smallest distance, at the values the finite
    differences start from, of a (leaky) ReLU input from 0 or of a max-pool
    window's winner from its runner-up (``inf`` when the stack has neither);
    ``nearest`` says where it is and ``draws`` how many draws it took. Closer
    than ``KINK_STEPS * step`` the finite differences prove nothing, and the
    report fails.
    """

    step: float = FD_STEP
    kink_distance: float = math.inf
    nearest: str = ""
    draws: int = 1

    @property
    def away_from_kinks(self) -> bool:
        return self.kink_distance >= KINK_STEPS * self.step

    @property
    def passed(self) -> bool:
        return self.away_from_kinks and super().passed

    def kink_note(self) -> str:
        """One line when the draws did not keep away from kinks, else ``""``."""
        if self.away_from_kinks:
            return ""
        return (f"finite differences: in {self.draws} draws no values were {KINK_STEPS} steps (step "
                f"{self.step:g}) from every kink; nearest: {self.nearest}, {self.kink_distance:.1e} away. "
                f"They prove nothing there.")

    def table(self) -> str:
        text = super().table()
        note = self.kink_note()
        if not note:
            return text
        head, _, tail = text.rpartition("tolerances:")
        return f"{head}{note}\ntolerances:{tail}"

    def _repr_html_(self) -> str:
        page = super()._repr_html_()
        note = self.kink_note()
        return page + (f"<p>{html.escape(note)}</p>" if note else "")


def _leaf_shapes(derivation):
    """The tensors a user provides: x, every w and b, and dy."""
    shapes = {name: shape for name, shape in derivation.shapes.items()
              if shape is not None and (name == "x" or name[0] in "wb")}
    shapes["dy"] = derivation.shapes["y"]
    return shapes


def draw_values(shapes, rng):
    """One seeded draw of every leaf: standard normal float64."""
    return {name: rng.standard_normal(shape) for name, shape in shapes.items()}


def _derived_chain(derivation, values, dtype):
    values = dict(values)
    for names, table in zip(derivation.names, derivation.forward):
        values[names["y"]] = evaluate_table(table, derivation.shapes[names["y"]], values, dtype)
    for grads in reversed(derivation.gradients):
        for name, table in grads.items():
            values[name] = evaluate_table(table, derivation.shapes[name[1:]], values, dtype)
    return values


def _reference_chain(derivation, values):
    values = dict(values)
    scale = Fraction(1, derivation.spec.input[0]) if derivation.reduction == "mean" else 1
    kernels = []
    for position, (layer, names) in enumerate(zip(derivation.spec.layers, derivation.names)):
        last = position == len(derivation.names) - 1
        kernels.append(layer_kernels(layer, names, scale if last else 1))
        values[names["y"]] = kernels[-1][0](values)
    for forward, backward, _ in reversed(kernels):
        values.update(backward(values))
    return values


def _reference_outputs(derivation, values):
    """The leaves and every layer's output, by the reference kernels."""
    values = dict(values)
    for layer, names in zip(derivation.spec.layers, derivation.names):
        values[names["y"]] = layer_kernels(layer, names)[0](values)
    return values


def _reference_chain_forward(derivation, values):
    return _reference_outputs(derivation, values)["y"]


def _window_candidates(x, layer):
    """Every max-pool window's candidates in scan order: ``y.shape + (taps,)``.

    The reference's own geometry (one tap's windows read a block of one
    stride phase of x); a position in the padding is no candidate, -inf.
    """
    from symconv.reference.maxpool import _phases, _pool_geometry, _taps

    geo = _pool_geometry(x, layer.kernel, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
    taps = _taps(geo)
    phases = _phases(x, geo, taps)
    candidates = np.full(x.shape[:2] + geo.out + (len(taps),), -np.inf)
    for column, (_, phase, src, dst) in enumerate(taps):
        candidates[dst + (column,)] = phases[phase][src]
    return candidates


def _max_pool_kinks(x, constant, layer):
    """Per window: the winner's lead, and whether the winner is constant.

    The lead is the winner (first maximum) minus the best other candidate
    that could overtake it or be overtaken: any other, if the winner moves;
    only those that move, if it is constant (ties among constants never
    change the winner).
    """
    positions = _window_candidates(np.arange(x.size, dtype=float).reshape(x.shape), layer)
    real = positions > -np.inf
    flat = np.where(real, positions, 0).astype(np.intp)
    values = np.where(real, x.ravel()[flat], -np.inf)
    fixed = np.where(real, constant.ravel()[flat], True)
    winner = np.argmax(values, axis=-1)[..., None]  # the first maximum, as PyTorch picks it
    best = np.take_along_axis(values, winner, -1)
    winner_fixed = np.take_along_axis(fixed, winner, -1)
    rivals = real & (~fixed | ~winner_fixed)
    np.put_along_axis(rivals, winner, False, -1)
    runner_up = np.where(rivals, values, -np.inf).max(axis=-1, initial=-np.inf)
    return best[..., 0] - runner_up, winner_fixed[..., 0]


def _kink_distance(derivation, values):
    """``(distance, where)`` of the nearest kink along the reference chain.

    Each tensor carries a mask of its constant elements: a plain ReLU's
    clamped inputs become constant, and stay so through a max pool whose
    winner is constant or an average pool of constants; a convolution's
    outputs always move (its weights are perturbed too).
    """
    outputs = _reference_outputs(derivation, values)
    constant = np.zeros(derivation.spec.input, dtype=bool)
    nearest = (math.inf, "")
    for layer, names in zip(derivation.spec.layers, derivation.names):
        x = outputs[names["x"]]
        distance = where = None
        if isinstance(layer, ConvSpec):
            constant = np.zeros(layer.output_shape, dtype=bool)
        elif isinstance(layer, PoolSpec) and layer.is_max:
            distance, constant = _max_pool_kinks(x, constant, layer)
            where = f"{layer.kind} window of {names['y']}"
        elif isinstance(layer, PoolSpec):
            moving = reference.avg_pool_forward((~constant).astype(float), layer.kernel, stride=layer.stride,
                                                padding=layer.padding, ceil_mode=layer.ceil_mode,
                                                count_include_pad=layer.count_include_pad,
                                                divisor_override=layer.divisor_override)
            constant = moving == 0
        else:
            distance = np.where(constant, np.inf, np.abs(x))
            where = f"{layer.kind} input {names['x']}"
            if layer.negative_slope == 0:
                constant = constant | (x < 0)
        if distance is not None and distance.size and distance.min() < nearest[0]:
            index = np.unravel_index(np.argmin(distance), distance.shape)
            nearest = (float(distance[index]), f"{where}[{', '.join(map(str, index))}]")
    return nearest


def _draw_away_from_kinks(derivation, shapes, rng, step):
    """Draw until every kink is KINK_STEPS steps away, at most MAX_DRAWS times.

    Returns ``(values, distance, where, draws)``: the first good draw, or if
    none was, the one farthest from its nearest kink.
    """
    best = None
    for draw in range(1, MAX_DRAWS + 1):
        values = draw_values(shapes, rng)
        distance, where = _kink_distance(derivation, values)
        if best is None or distance > best[1]:
            best = (values, distance, where)
        if distance >= KINK_STEPS * step:
            break
    return (*best, draw)


def _compared(derivation):
    """Every tensor the chain computes: outputs in forward order, gradients backward."""
    outputs = [names["y"] for names in derivation.names]
    gradients = [name for grads in reversed(derivation.gradients) for name in grads]
    return outputs + gradients


def verify_stack(derivation, seed: int = 0, fd_samples: int = 32, exact: bool | None = None) -> StackReport:
    """Check a :class:`~symconv.spec.stack.StackDerivation`; see the module docstring."""
    rng = np.random.default_rng(seed)
    shapes = _leaf_shapes(derivation)
    values, kink_distance, nearest, draws = _draw_away_from_kinks(derivation, shapes, rng, FD_STEP)
    derived = _derived_chain(derivation, values, float)
    expected = _reference_chain(derivation, values)
    if exact is None:
        exact = derivation.spec.estimate_terms() <= EXACT_TERM_LIMIT // 4
    exact_equal = {}
    if exact:
        random = {k: _fractions(rng.integers(-9, 10, size=s), rng.integers(1, 10, size=s)) for k, s in shapes.items()}
        ties = dict(random, x=_fractions(np.zeros(shapes["x"], dtype=int)))
        names = _compared(derivation)
        exact_equal = {name: True for name in names}
        for trial in (random, ties):
            got, want = _derived_chain(derivation, trial, object), _reference_chain(derivation, trial)
            for name in names:
                exact_equal[name] &= bool(np.array_equal(got[name], want[name]))
    divisor = derivation.spec.input[0] if derivation.reduction == "mean" else 1

    checks = []
    for name in _compared(derivation):
        fd_error, count = None, 0
        leaf = name[1:]
        if name.startswith("d") and leaf in shapes:
            entries = list(np.ndindex(*shapes[leaf]))
            if len(entries) > fd_samples:
                picks = rng.choice(len(entries), size=fd_samples, replace=False)
                entries = [entries[i] for i in sorted(picks)]
            estimates = finite_differences(lambda v: _reference_chain_forward(derivation, v),
                                           values, leaf, entries, FD_STEP, divisor)
            fd_error = rel_error([derived[name][i] for i in entries], estimates)
            count = len(entries)
        checks.append(Check(name, rel_error(derived[name], expected[name]), fd_error, count,
                            exact_equal.get(name) if exact else None))
    title = "stack: " + " | ".join(layer.kind for layer in derivation.spec.layers)
    title += ", x " + "x".join(map(str, derivation.spec.input))
    if derivation.reduction == "mean":
        title += ", mean reduction"
    return StackReport(title, seed, tuple(checks), FD_STEP, kink_distance, nearest, draws)
