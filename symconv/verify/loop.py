"""The one verification loop, for a layer and for a stack alike.

At values drawn by a :class:`Plan`, every tensor the chain computes is
compared with the composed reference kernels (:mod:`symconv.verify.chain`);
each leaf's gradient with central finite differences of the reference loss;
and, at exact rational values, derived and reference tensors must be equal.

With a derived loss (mse, cross-entropy) the finite differences are those
of the true loss: its reference terms (:func:`symconv.verify.chain.loss_terms`)
at the reference output, for every leaf end to end and for dy itself
(perturbing y). The target t is drawn by the loss's rule (labels in 0..K-1
for cross-entropy) unless the caller gives it. Cross-entropy's dy is not
rational, so its exact trials give the chain a rational dy instead, and
dy's own row says the exact check was not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from symconv.layers.loss import loss_rule_for
from symconv.spec.loss import loss_spec, read_target
from symconv.spec.stack import TARGET
from symconv.verify.chain import (
    compared,
    derived_chain,
    divisor,
    leaf_shapes,
    loss_terms,
    reference_chain,
    reference_loss_output,
)
from symconv.verify.checks import (
    FD_TOLERANCE,
    NOISE_FLOORS,
    REFERENCE_TOLERANCE,
    Check,
    exact_integers,
    finite_differences,
    first_difference,
    loss_finite_differences,
    rel_error,
    worst_entry,
)

#: Why a loss that is not rational has no exact check of dy.
NOT_RATIONAL = ("not run: dy is not rational (softmax), so it is checked against the reference and finite differences; "
                "the exact trials give the layers below a rational dy")


@dataclass(frozen=True)
class Plan:
    """How one kind of derivation is checked.

    ``draw(rng)`` gives the float64 values the finite differences start
    from; ``trials(rng)`` the exact rational ones; ``step`` and
    ``fd_samples`` (entries per tensor, at most) set the finite differences;
    ``exact_note`` says why the exact check cannot run (``""``: it can);
    ``cancelling``: the chain holds a batch norm, so gradients are compared
    with the noise floors of :data:`~symconv.verify.checks.NOISE_FLOORS`.
    """

    draw: Callable
    trials: Callable
    step: float
    fd_samples: int
    reference_tolerance: float = REFERENCE_TOLERANCE
    fd_tolerance: float = FD_TOLERANCE
    exact_note: str = ""
    cancelling: bool = False


def _shown(name, index) -> str:
    return f"{name}[{', '.join(map(str, index))}]"


def drawn_shapes(derivation) -> dict:
    """The leaves a plan draws: all but a loss's target, which :func:`with_target` adds."""
    return {name: shape for name, shape in leaf_shapes(derivation).items() if name != TARGET}


def at_init_scale(derivation, values) -> dict:
    """Under a saturating loss (cross-entropy), the weights drawn divided by the square root of their fan-in.

    Standard normal weights make a stack's logits grow with each layer's
    fan-in (tens, through two linear layers), where softmax saturates and
    every gradient falls below the finite differences' round-off. At
    PyTorch's initialization scale (std 1/sqrt(fan in)) the logits stay near
    1. Other losses keep the draw as it is.
    """
    if derivation.loss is None or not loss_rule_for(derivation.loss).saturates:
        return values
    scaled = dict(values)
    for name, value in values.items():
        if name[0] == "w" and value.ndim > 1:
            scaled[name] = value / np.sqrt(np.prod(value.shape[1:]))
    return scaled


def given_target(derivation, target):
    """A caller's target values checked against the loss (:func:`symconv.spec.loss.read_target`), or None."""
    if target is None:
        return None
    loss = derivation.loss or loss_spec("sum", derivation.reduction, derivation.shapes["y"])
    return read_target(loss, target)


def with_target(derivation, values, rng, exact: bool, target=None) -> dict:
    """``values`` with a derived loss's target t (drawn, or ``target``, a flat sequence in row-major order).

    At exact values of a loss that is not rational, a rational dy is drawn
    too (see the module docstring). The sum loss draws nothing.
    """
    if derivation.loss is None:
        return values
    loss, rule = derivation.loss, loss_rule_for(derivation.loss)
    if target is None:
        t = rule.exact_target(loss, rng) if exact else rule.draw_target(loss, rng)
    else:
        t = rule.given_target(loss, target, exact)
    values = dict(values, **{TARGET: t})
    if exact and not rule.rational:
        y = derivation.shapes["y"]
        values["dy"] = exact_integers(rng.integers(-9, 10, size=y), rng.integers(1, 10, size=y))
    return values


def _floors(plan, derived, names):
    """The denominators' floors of the gradients' relative errors: cs231n's 1e-8, or in a chain
    with a batch norm :data:`NOISE_FLOORS` of the largest gradient value (dy's included)."""
    if not plan.cancelling:
        return 1e-8, 1e-8
    scale = max([float(np.max(np.abs(derived["dy"])))] +
                [float(np.max(np.abs(derived[n]))) for n in names if n.startswith("d") and derived[n].size])
    return tuple(max(1e-8, fraction * scale) for fraction in NOISE_FLOORS)


def run_checks(derivation, plan: Plan, rng, exact: bool, progress=None, target=None):
    """``(values, checks)``: the drawn values and one :class:`Check` per computed tensor.

    ``progress``, if given, is called as ``progress(done, total)`` when the
    steps are known and after each one: the float evaluation, each exact
    trial, each tensor's finite differences. ``target`` fixes a derived
    loss's target (see :func:`with_target`).
    """
    shapes = leaf_shapes(derivation)
    values = with_target(derivation, plan.draw(rng), rng, False, target)
    trials = plan.trials(rng) if exact else []  # drawn here as before: the evaluations draw nothing
    trials = [with_target(derivation, trial, rng, True, target) for trial in trials]
    names = compared(derivation)
    rational = derivation.loss is None or loss_rule_for(derivation.loss).rational
    fd_names = [name for name in names if name.startswith("d") and (name[1:] in shapes or name == "dy")]
    total, done = 1 + len(trials) + len(fd_names), 0

    def step():
        nonlocal done
        if progress is not None:
            progress(done, total)
        done += 1

    step()
    derived = derived_chain(derivation, values, float)
    expected = reference_chain(derivation, values)
    step()
    exact_equal, mismatch = {name: True for name in names}, {}
    if exact:
        for trial in trials:
            got, want = derived_chain(derivation, trial, object), reference_chain(derivation, trial)
            for name in names:
                if name == "dy" and not rational:
                    continue  # the trial's own rational dy, not a derived one
                equal = bool(np.array_equal(got[name], want[name]))
                if not equal and name not in mismatch:
                    index = first_difference(got[name], want[name])
                    mismatch[name] = (f"{_shown(name, index)}: derived {got[name][index]}, reference "
                                      f"{want[name][index]} (exact)")
                exact_equal[name] &= equal
            step()
    floors = _floors(plan, derived, names)
    checks = []
    for name in names:
        fd_error, count, where = None, 0, ""
        leaf = name[1:]
        floor, fd_floor = floors if name.startswith("d") else (1e-8, 1e-8)
        vs_reference = rel_error(derived[name], expected[name], floor)
        if vs_reference > plan.reference_tolerance:
            index = worst_entry(derived[name], expected[name], floor)
            where = f"{_shown(name, index)}: derived {derived[name][index]:.6g}, reference {expected[name][index]:.6g}"
        if name in fd_names:
            entries = list(np.ndindex(*derivation.shapes[leaf]))
            if len(entries) > plan.fd_samples:
                picks = rng.choice(len(entries), size=plan.fd_samples, replace=False)
                entries = [entries[i] for i in sorted(picks)]
            estimates = _differences(derivation, values, expected, leaf, entries, plan.step)
            at = np.array([derived[name][i] for i in entries])
            fd_error, count = rel_error(at, estimates, fd_floor), len(entries)
            if fd_error > plan.fd_tolerance and not where:
                worst = entries[worst_entry(at, estimates, fd_floor)[0]]
                where = (f"{_shown(name, worst)}: derived {derived[name][worst]:.6g}, finite differences "
                         f"{estimates[entries.index(worst)]:.6g}")
            step()
        where = where or mismatch.get(name, "")
        exact_check = exact_equal[name] if exact and (name != "dy" or rational) else None
        note = NOT_RATIONAL if exact and exact_check is None else ("" if exact else plan.exact_note)
        checks.append(Check(name, vs_reference, fd_error, count, exact_check, plan.reference_tolerance,
                            plan.fd_tolerance, where, exact_note=note))
    return values, checks


def _differences(derivation, values, expected, leaf, entries, step):
    """Central differences of the loss with respect to ``leaf`` at ``entries``.

    The sum loss as ever (``sum(dy * y)``); a derived loss through its
    reference terms, end to end for a leaf and directly for y (dy's row).
    """
    if derivation.loss is None:
        return finite_differences(lambda v: reference_loss_output(derivation, v),
                                  values, leaf, entries, step, divisor(derivation))
    if leaf == "y":
        at_output = dict(values, y=expected["y"])
        return loss_finite_differences(lambda v: loss_terms(derivation, v), at_output, "y", entries, step,
                                       divisor(derivation))
    return loss_finite_differences(lambda v: loss_terms(derivation, dict(v, y=reference_loss_output(derivation, v))),
                                   values, leaf, entries, step, divisor(derivation))
