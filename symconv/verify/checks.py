"""The verifier's vocabulary: relative error, finite differences, one check, one report.

Errors use cs231n's ``rel_error``: ``max |a-b| / max(1e-8, |a|+|b|)``,
element-wise. A failing check names the entry where it failed, so a wrong
term is found by its index, not just by its tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

#: Largest rel_error accepted against the reference (both are float64 sums).
REFERENCE_TOLERANCE = 1e-9
#: Largest rel_error accepted against central finite differences.
FD_TOLERANCE = 1e-6
#: Exact arithmetic on object arrays is slow; above this many terms it is
#: reported as not run rather than silently taking minutes.
EXACT_TERM_LIMIT = 1_000_000
#: Why the exact check is not run for a layer that is not rational.
IRRATIONAL = ("not run: the derivation holds exp, tanh or a square root, whose values at rational inputs "
              "are not rational")


#: Below a batch norm some gradients are zero by cancellation (a bias just
#: below it: its dx sums to 0 over each channel), which float sums reach only
#: up to round-off on either side of 0. In a chain holding one, the
#: denominator of a gradient's relative error is at least these fractions of
#: the largest gradient value (reference, finite differences): an entry that
#: small is held to an absolute error of 1e-13 (1e-8 for finite differences)
#: of that scale.
NOISE_FLOORS = (1e-4, 1e-2)


def rel_error(a, b, floor: float = 1e-8) -> float:
    """cs231n's relative error: ``max |a-b| / max(1e-8, |a|+|b|)`` (``floor`` instead of 1e-8 if given)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))))


def worst_entry(a, b, floor: float = 1e-8) -> tuple:
    """The index of the entry where ``a`` and ``b`` differ most (relatively)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    errors = np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))
    return tuple(int(i) for i in np.unravel_index(np.argmax(errors), errors.shape))


def first_difference(a, b) -> tuple | None:
    """The first index (row-major) where two exact arrays differ, or None."""
    for index in np.ndindex(*np.shape(a)):
        if a[index] != b[index]:
            return tuple(int(i) for i in index)
    return None


def fractions(integers, denominators=None):
    """An object array of ``Fraction(integers, denominators)``, entry by entry."""
    array = np.empty(integers.shape, dtype=object)
    for index in np.ndindex(*integers.shape):
        q = 1 if denominators is None else int(denominators[index])
        array[index] = Fraction(int(integers[index]), q)
    return array


#: The common denominator of the exact trials' rationals p/q (q < 10): lcm(1, ..., 9).
COMMON_DENOMINATOR = 2520


def exact_integers(numerators, denominators=None):
    """An object array of Python ints: the rationals ``numerators / denominators``
    times :data:`COMMON_DENOMINATOR` (the denominators are 1 to 9).

    Scaling every drawn rational by one constant keeps which values are
    equal, which are 0 and how they are ordered, and the number of distinct
    values a draw can take, so the exact check tests its polynomial identities
    at points just as varied, while every layer without a division computes
    in integers (Python ints: exact, and tens of times faster than Fractions).
    """
    integers = np.asarray(numerators, dtype=np.int64)
    if denominators is not None:
        integers = integers * (COMMON_DENOMINATOR // np.asarray(denominators, dtype=np.int64))
    return integers.astype(object)  # Python ints


def finite_differences(forward, values, name, entries, h, divisor=1):
    """Central differences of ``L = sum(dy * forward(values)) / divisor``.

    The outputs are subtracted *before* the sum, ``sum(dy * (y+ - y-))``:
    outputs the perturbed entry does not reach cancel exactly, so round-off
    scales with the few outputs it does reach, not with the whole of L.
    """
    return _central_differences(forward, values["dy"], values, name, entries, h, divisor)


def loss_finite_differences(terms, values, name, entries, h, divisor=1):
    """Central differences of ``L = sum(terms(values)) / divisor``, a derived loss's terms.

    As in :func:`finite_differences`, the terms are subtracted before the
    sum, so the terms the perturbed entry does not reach cancel exactly.
    """
    return _central_differences(terms, 1, values, name, entries, h, divisor)


def _central_differences(evaluate, weight, values, name, entries, h, divisor):
    """``sum(weight * (evaluate(x + h) - evaluate(x - h))) / (2 h) / divisor`` for each entry of ``name``."""
    estimates = []
    for index in entries:
        shifted = dict(values)
        tensor = values[name].copy()
        shifted[name] = tensor
        tensor[index] = values[name][index] + h
        up = evaluate(shifted)
        tensor[index] = values[name][index] - h
        down = evaluate(shifted)
        estimates.append(float(np.sum(weight * (up - down))) / (2 * h) / divisor)
    return np.array(estimates)


@dataclass(frozen=True)
class Check:
    """One row of the verification table.

    ``where`` says, for a failing row, which entry failed and how:
    ``"dx[0, 0, 1]: derived 0.5, reference 0.25"``.
    """

    name: str
    vs_reference: float
    vs_finite_differences: float | None  # None for the forward itself
    fd_entries: int
    exact: bool | None  # None when not run (layer too large)
    reference_tolerance: float = REFERENCE_TOLERANCE
    fd_tolerance: float = FD_TOLERANCE
    where: str = ""
    exact_note: str = ""  # why the exact check was not run, if not for its size

    @property
    def passed(self) -> bool:
        return (
            self.vs_reference <= self.reference_tolerance
            and (self.vs_finite_differences is None or self.vs_finite_differences <= self.fd_tolerance)
            and self.exact is not False
        )

    def to_dict(self, void: str = "") -> dict:
        """This row for ``--format json``: each comparison's result, error and tolerance.

        A comparison that was not run (or, with ``void``, that proves nothing)
        has ``"ok": null`` and a ``"note"`` saying why; a failing one names the
        entry where it failed in its ``"note"``.
        """
        reference = _comparison(self.vs_reference, self.reference_tolerance)
        if self.vs_finite_differences is None:
            why = ("checked end to end, through dx and the parameters' gradients" if self.name.startswith("d")
                   else "finite differences check gradients, not outputs")
            fd = {"ok": None, "max_rel_error": None, "tolerance": self.fd_tolerance, "note": f"not run: {why}"}
        else:
            fd = _comparison(self.vs_finite_differences, self.fd_tolerance)
        exact = {"ok": self.exact}
        if self.exact is None:
            exact["note"] = self.exact_note or "not run: the derivation has too many terms for exact rational arithmetic"
        if self.where:  # the first comparison that failed, as the table's note says
            failed = next((c for c in (reference, fd, exact) if c["ok"] is False), None)
            if failed is not None:
                failed["note"] = self.where
        voided = bool(void) and self.vs_finite_differences is not None
        if voided:
            fd.update(ok=None, note=void)
        return {"ok": self.passed and not voided, "reference": reference, "finite_differences": fd, "exact": exact}


def _comparison(error: float, tolerance: float) -> dict:
    if not math.isfinite(error):
        return {"ok": False, "max_rel_error": None, "tolerance": tolerance,
                "note": f"the relative error is {error} (the values are not all finite)"}
    return {"ok": error <= tolerance, "max_rel_error": error, "tolerance": tolerance}


@dataclass(frozen=True)
class Report:
    """All checks of one derivation; ``passed`` only if every row passed."""

    title: str
    seed: int
    checks: tuple[Check, ...]
    reference_tolerance: float = REFERENCE_TOLERANCE
    fd_tolerance: float = FD_TOLERANCE

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def void_note(self) -> str:
        """Why the finite differences prove nothing, or ``""`` (a stack's kinks; see StackReport)."""
        return ""

    def to_dict(self, layer: dict | None = None) -> dict:
        """The report for ``--format json``: ``{"ok", "layer", "seed", "tensors"}``.

        ``layer`` (the spec's ``to_dict()``) is left out when not given;
        ``tensors`` maps each checked tensor to :meth:`Check.to_dict`.
        """
        void = self.void_note()
        tensors = {c.name: c.to_dict(void) for c in self.checks}
        data = {"ok": self.passed and all(t["ok"] for t in tensors.values())}
        if layer is not None:
            data["layer"] = layer
        data.update(seed=self.seed, tensors=tensors)
        return data

    def notes(self) -> list[str]:
        """Lines under the table: where each failing check failed."""
        return [f"{c.name}: {c.where}" for c in self.checks if not c.passed and c.where]

    def table(self) -> str:
        """A plain-text table, one row per checked tensor."""
        head = ("tensor", "vs reference", "vs finite diff", "exact", "result")
        rows = [head]
        for c in self.checks:
            fd = "-" if c.vs_finite_differences is None else f"{c.vs_finite_differences:.1e} ({c.fd_entries})"
            exact = {True: "equal", False: "DIFFERENT", None: "not run"}[c.exact]
            rows.append((c.name, f"{c.vs_reference:.1e}", fd, exact, "ok" if c.passed else "FAIL"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines += self.notes()
        verdict = "all checks passed" if self.passed else "MISMATCH: some checks failed"
        return (
            f"{self.title} (seed {self.seed})\n" + "\n".join(lines) + "\n"
            f"tolerances: reference {self.reference_tolerance:g}, finite differences "
            f"{self.fd_tolerance:g}; {verdict}\n"
        )

    def _repr_html_(self) -> str:  # Jupyter shows the table
        from symconv.verify.html import report_html

        return report_html(self)
