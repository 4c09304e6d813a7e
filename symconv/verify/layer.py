"""Prove a single layer's derivation: compare it with things that do not share its code.

For a derived layer, at seeded random values of x, w, b and dy:

* **reference**: the derived forward and gradients, evaluated in float64,
  against the NumPy reference kernels (:mod:`symconv.reference`);
* **finite differences**: each gradient against central differences of the
  reference forward's loss ``L = sum(dy * y)`` (on a random sample of entries
  for large tensors);
* **exact**: the derived expressions and the reference evaluated exactly,
  at integer points, in integer arithmetic (Fractions only where a layer
  divides), must be *equal*.

The loop is :func:`symconv.verify.loop.run_checks`, shared with stacks; this
module says how a lone layer's values are drawn.

>>> from symconv.spec.conv import conv_spec
>>> from symconv.engine.derive import derive
>>> report = verify(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))))
>>> report.passed
True
"""

from __future__ import annotations

import numpy as np

from symconv.layers import rule_for
from symconv.layers.loss import loss_rule_for
from symconv.verify.checks import EXACT_TERM_LIMIT, IRRATIONAL, Report, exact_integers
from symconv.verify.loop import Plan, at_init_scale, drawn_shapes, given_target, run_checks

#: The finite-difference step: as large as is safe, to keep round-off small.
#: A layer linear in each input has no truncation error at all, and a
#: piecewise one is linear within 10 steps of x (see :func:`random_values`);
#: nor has mse, which is quadratic in y.
STEP = 1e-3
#: The step for a curved layer (sigmoid, tanh, batch norm) or a loss that is
#: not rational (cross-entropy): the truncation error grows as the step
#: squared (1e-10 here), round-off as 1e-16 / step.
CURVED_STEP = 1e-5


def random_values(shapes, rng, smooth: bool):
    """Seeded float64 values; for piecewise layers, kept far from ties and kinks.

    A max or a ReLU is differentiable only away from ties and from 0, so x
    gets distinct values on a grid of step 0.02 (none closer than 0.01 to 0):
    at least ten finite-difference steps (1e-3) from any tie or kink.
    """
    values = {k: rng.standard_normal(s) for k, s in shapes.items()}
    if not smooth:
        size = int(np.prod(shapes["x"]))
        # k - size//2 + 1/2 is never 0, whatever the parity of size.
        values["x"] = ((rng.permutation(size) - size // 2 + 0.5) * 0.02).reshape(shapes["x"])
    return values


def rational_trials(shapes, rng, smooth: bool):
    """Exact inputs: random rationals scaled to integers, and for piecewise layers tie-heavy ones.

    The random trial draws rationals p/q (|p| < 10, 0 < q < 10) and scales
    them all by one common denominator (:func:`~symconv.verify.checks.exact_integers`).
    Ties (constant inputs, inputs of only 0 and 1) are where a max pool or a
    ReLU must follow PyTorch's rule exactly, and 0 is a ReLU's kink; finite
    differences cannot check them, exact comparison with the reference can.
    """
    random = {k: exact_integers(rng.integers(-9, 10, size=s), rng.integers(1, 10, size=s)) for k, s in shapes.items()}
    trials = [random]
    if not smooth:
        for x in (np.zeros(shapes["x"], dtype=int), rng.integers(0, 2, size=shapes["x"])):
            trials.append(dict(random, x=exact_integers(x)))
    return trials


def verify(derivation, seed: int = 0, fd_samples: int = 64, exact: bool | None = None, progress=None,
           target=None) -> Report:
    """Check a single layer's derivation three ways; see the module docstring.

    ``fd_samples`` caps the finite-difference entries per tensor (chosen at
    random); ``exact`` forces the rational check on or off (default: on for
    layers up to :data:`~symconv.verify.checks.EXACT_TERM_LIMIT` terms);
    ``progress(done, total)`` is told how far the checks have come;
    ``target`` gives a derived loss's target t instead of drawing it (text
    or a flat sequence, row-major; labels in 0..K-1 for cross-entropy).
    """
    from symconv.printing.present import describe, describe_loss

    spec = derivation.spec
    rule = rule_for(spec)
    smooth = rule.smooth
    shapes = drawn_shapes(derivation)
    target = given_target(derivation, target)
    curved = rule.curved or (derivation.loss is not None and not loss_rule_for(derivation.loss).rational)
    plan = Plan(draw=lambda rng: at_init_scale(derivation, random_values(shapes, rng, smooth)),
                trials=lambda rng: rational_trials(shapes, rng, smooth),
                step=CURVED_STEP if curved else STEP, fd_samples=fd_samples,
                exact_note="" if rule.rational else IRRATIONAL, cancelling=rule.cancels)
    if exact is None:
        exact = rule.rational and spec.estimate_terms() <= EXACT_TERM_LIMIT
    _, checks = run_checks(derivation, plan, np.random.default_rng(seed), exact, progress, target)
    title = describe(spec) + describe_loss(derivation)
    return Report(title, seed, tuple(checks), plan.reference_tolerance, plan.fd_tolerance)
