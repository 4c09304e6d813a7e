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
that far from its best rival; after :data:`MAX_DRAWS` draws the report says
it failed rather than passing on finite differences that prove nothing.
Not every tie is a kink. Values a plain ReLU clamped to 0 are constant, so a
tie among them (a window of clamped zeros) cannot change which one wins; and
copies of one value move together, so a window that holds the same winner
twice (two overlapping max pools in a row pass one maximum to several
outputs) passes on the same value whichever copy wins. Neither counts as a
rival of the winner (:func:`symconv.layers.windows.winner_leads`).

>>> from symconv.engine.derive import derive_stack
>>> from symconv.spec.stack import parse_layers, stack_spec
>>> spec = stack_spec((1, 1, 4, 4), parse_layers("conv2d(weight=1,1,2,2) | relu"))
>>> verify_stack(derive_stack(spec)).passed
True
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

from symconv.layers import rule_for
from symconv.layers.rule import fresh_origins
from symconv.verify.chain import reference_outputs
from symconv.verify.checks import EXACT_TERM_LIMIT, IRRATIONAL, Report, exact_integers
from symconv.verify.loop import Plan, at_init_scale, drawn_shapes, given_target, run_checks

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

    def void_note(self) -> str:
        return self.kink_note()

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


def draw_values(shapes, rng):
    """One seeded draw of every leaf: standard normal float64."""
    return {name: rng.standard_normal(shape) for name, shape in shapes.items()}


def _kink_distance(derivation, values):
    """``(distance, where)`` of the nearest kink along the reference chain.

    Each tensor carries the origins of its elements, which each layer's rule
    carries through (:attr:`symconv.layers.rule.LayerRule.kinks`): a plain
    ReLU's clamped inputs become constant; a max pool's output is its
    winner, so it keeps the winner's origin, as element-wise layers and
    flatten keep their inputs'; a convolution's outputs, or an average
    pool's of anything that moves, are new functions (its weights are
    perturbed too).
    """
    outputs = reference_outputs(derivation, values)
    origin = fresh_origins(derivation.spec.input)
    nearest = (math.inf, "")
    for layer, names in zip(derivation.spec.layers, derivation.names):
        rule = rule_for(layer)
        distance, origin = rule.kinks(layer, outputs[names["x"]], origin)
        if distance is not None and distance.size and distance.min() < nearest[0]:
            index = np.unravel_index(np.argmin(distance), distance.shape)
            where = f"{layer.kind} " + rule.kink_site.format(**names)
            nearest = (float(distance[index]), f"{where}[{', '.join(map(str, index))}]")
    return nearest


def _draw_away_from_kinks(derivation, shapes, rng, step):
    """Draw until every kink is KINK_STEPS steps away, at most MAX_DRAWS times.

    Returns ``(values, distance, where, draws)``: the first good draw, or if
    none was, the one farthest from its nearest kink.
    """
    best = None
    for draw in range(1, MAX_DRAWS + 1):
        values = at_init_scale(derivation, draw_values(shapes, rng))
        distance, where = _kink_distance(derivation, values)
        if best is None or distance > best[1]:
            best = (values, distance, where)
        if distance >= KINK_STEPS * step:
            break
    return (*best, draw)


def _exact_trials(shapes, rng):
    """Random rationals scaled to integers, and the same with a constant input (ties in every max window)."""
    random = {k: exact_integers(rng.integers(-9, 10, size=s), rng.integers(1, 10, size=s)) for k, s in shapes.items()}
    return [random, dict(random, x=exact_integers(np.zeros(shapes["x"], dtype=int)))]


def verify_stack(derivation, seed: int = 0, fd_samples: int = 32, exact: bool | None = None,
                 progress=None, target=None) -> StackReport:
    """Check a :class:`~symconv.engine.derive.StackDerivation`; see the module docstring.

    ``progress(done, total)`` is told how far the checks have come;
    ``target`` gives a derived loss's target (see :func:`symconv.verify.layer.verify`).
    """
    from symconv.printing.present import describe_loss

    shapes = drawn_shapes(derivation)
    target = given_target(derivation, target)
    drawn = {}

    def draw(rng):
        values, *drawn["kinks"] = _draw_away_from_kinks(derivation, shapes, rng, FD_STEP)
        return values

    rational = all(rule_for(layer).rational for layer in derivation.spec.layers)
    plan = Plan(draw=draw, trials=lambda rng: _exact_trials(shapes, rng), step=FD_STEP, fd_samples=fd_samples,
                exact_note="" if rational else IRRATIONAL,
                cancelling=any(rule_for(layer).cancels for layer in derivation.spec.layers))
    if exact is None:
        exact = rational and derivation.spec.estimate_terms() <= EXACT_TERM_LIMIT // 4
    _, checks = run_checks(derivation, plan, np.random.default_rng(seed), exact, progress, target)
    kink_distance, nearest, draws = drawn["kinks"]
    title = "stack: " + " | ".join(layer.kind for layer in derivation.spec.layers)
    title += ", x " + "x".join(map(str, derivation.spec.input)) + describe_loss(derivation)
    return StackReport(title, seed, tuple(checks), plan.reference_tolerance, plan.fd_tolerance,
                       FD_STEP, kink_distance, nearest, draws)
