"""The one verification loop, for a layer and for a stack alike.

At values drawn by a :class:`Plan`, every tensor the chain computes is
compared with the composed reference kernels (:mod:`symconv.verify.chain`);
each leaf's gradient with central finite differences of the reference loss;
and, at exact rational values, derived and reference tensors must be equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from symconv.verify.chain import compared, derived_chain, leaf_shapes, reference_chain, reference_loss_output
from symconv.verify.checks import (
    FD_TOLERANCE,
    NOISE_FLOORS,
    REFERENCE_TOLERANCE,
    Check,
    finite_differences,
    first_difference,
    rel_error,
    worst_entry,
)


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


def _floors(plan, derived, names, values):
    """The denominators' floors of the gradients' relative errors: cs231n's 1e-8, or in a chain
    with a batch norm :data:`NOISE_FLOORS` of the largest gradient value (dy's included)."""
    if not plan.cancelling:
        return 1e-8, 1e-8
    scale = max([float(np.max(np.abs(values["dy"])))] +
                [float(np.max(np.abs(derived[n]))) for n in names if n.startswith("d") and derived[n].size])
    return tuple(max(1e-8, fraction * scale) for fraction in NOISE_FLOORS)


def run_checks(derivation, plan: Plan, rng, exact: bool, progress=None):
    """``(values, checks)``: the drawn values and one :class:`Check` per computed tensor.

    ``progress``, if given, is called as ``progress(done, total)`` when the
    steps are known and after each one: the float evaluation, each exact
    trial, each tensor's finite differences.
    """
    shapes = leaf_shapes(derivation)
    values = plan.draw(rng)
    trials = plan.trials(rng) if exact else []  # drawn here as before: the evaluations draw nothing
    names = compared(derivation)
    fd_names = [name for name in names if name.startswith("d") and name[1:] in shapes]
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
                equal = bool(np.array_equal(got[name], want[name]))
                if not equal and name not in mismatch:
                    index = first_difference(got[name], want[name])
                    mismatch[name] = (f"{_shown(name, index)}: derived {got[name][index]}, reference "
                                      f"{want[name][index]} (exact)")
                exact_equal[name] &= equal
            step()
    divisor = derivation.spec.input[0] if derivation.reduction == "mean" else 1
    floors = _floors(plan, derived, names, values)
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
            entries = list(np.ndindex(*shapes[leaf]))
            if len(entries) > plan.fd_samples:
                picks = rng.choice(len(entries), size=plan.fd_samples, replace=False)
                entries = [entries[i] for i in sorted(picks)]
            estimates = finite_differences(lambda v: reference_loss_output(derivation, v),
                                           values, leaf, entries, plan.step, divisor)
            at = np.array([derived[name][i] for i in entries])
            fd_error, count = rel_error(at, estimates, fd_floor), len(entries)
            if fd_error > plan.fd_tolerance and not where:
                worst = entries[worst_entry(at, estimates, fd_floor)[0]]
                where = (f"{_shown(name, worst)}: derived {derived[name][worst]:.6g}, finite differences "
                         f"{estimates[entries.index(worst)]:.6g}")
            step()
        where = where or mismatch.get(name, "")
        checks.append(Check(name, vs_reference, fd_error, count, exact_equal[name] if exact else None,
                            plan.reference_tolerance, plan.fd_tolerance, where,
                            exact_note="" if exact else plan.exact_note))
    return values, checks
