"""Prove a derivation: compare it with things that do not share its code.

For a derived layer, at seeded random values of x, w, b and dy:

* **reference**: the derived forward and gradients, evaluated in float64,
  against the NumPy reference kernels (:mod:`symconv.reference`);
* **finite differences**: each gradient against central differences of the
  reference forward's loss ``L = sum(dy * y)`` (on a random sample of entries
  for large tensors);
* **exact**: the derived expressions and the reference evaluated in exact
  rational arithmetic (``fractions.Fraction``) must be *equal*.

Errors use cs231n's ``rel_error``: ``max |a-b| / max(1e-8, |a|+|b|)``,
element-wise.

>>> from symconv.spec import conv_spec
>>> from symconv.engine import derive
>>> report = verify(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))))
>>> report.passed
True
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from symconv import reference
from symconv.evaluate import evaluate_table

#: Largest rel_error accepted against the reference (both are float64 sums).
REFERENCE_TOLERANCE = 1e-9
#: Largest rel_error accepted against central finite differences.
FD_TOLERANCE = 1e-6
#: Exact arithmetic on object arrays is slow; above this many terms it is
#: reported as not run rather than silently taking minutes.
EXACT_TERM_LIMIT = 1_000_000


def rel_error(a, b) -> float:
    """cs231n's relative error: ``max |a-b| / max(1e-8, |a|+|b|)``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


@dataclass(frozen=True)
class Check:
    """One row of the verification table."""

    name: str
    vs_reference: float
    vs_finite_differences: float | None  # None for the forward itself
    fd_entries: int
    exact: bool | None  # None when not run (layer too large)

    @property
    def passed(self) -> bool:
        return (
            self.vs_reference <= REFERENCE_TOLERANCE
            and (self.vs_finite_differences is None or self.vs_finite_differences <= FD_TOLERANCE)
            and self.exact is not False
        )


@dataclass(frozen=True)
class Report:
    """All checks of one derivation; ``passed`` only if every row passed."""

    title: str
    seed: int
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

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
        verdict = "all checks passed" if self.passed else "MISMATCH: some checks failed"
        return (
            f"{self.title} (seed {self.seed})\n" + "\n".join(lines) + "\n"
            f"tolerances: reference {REFERENCE_TOLERANCE:g}, finite differences "
            f"{FD_TOLERANCE:g}; {verdict}\n"
        )

    def _repr_markdown_(self) -> str:  # Jupyter shows the table
        return "```\n" + self.table() + "```"


def _layer_kwargs(spec):
    return dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups)


def _random_values(spec, rng, exact: bool):
    shapes = {"x": spec.input, "w": spec.weight, "dy": spec.output_shape}
    if spec.bias:
        shapes["b"] = spec.bias_shape
    if not exact:
        return {k: rng.standard_normal(s) for k, s in shapes.items()}
    values = {}
    for name, shape in shapes.items():
        numerators = rng.integers(-9, 10, size=shape)
        denominators = rng.integers(1, 10, size=shape)
        array = np.empty(shape, dtype=object)
        for index in np.ndindex(*shape):
            array[index] = Fraction(int(numerators[index]), int(denominators[index]))
        values[name] = array
    return values


def _reference_outputs(spec, values):
    kwargs = _layer_kwargs(spec)
    y = reference.conv_forward(values["x"], values["w"], values.get("b"), **kwargs)
    dx, dw, db = reference.conv_backward(values["dy"], values["x"], values["w"], **kwargs)
    outputs = {"y": y, "dx": dx, "dw": dw}
    if spec.bias:
        outputs["db"] = db
    return outputs


def _derived_outputs(derivation, values, dtype):
    spec = derivation.spec
    outputs = {"y": evaluate_table(derivation.forward, spec.output_shape, values, dtype)}
    shapes = derivation.shapes
    for name, table in derivation.gradients.items():
        outputs[name] = evaluate_table(table, shapes[name[1:]], values, dtype)
    return outputs


def _finite_differences(spec, values, name, entries, h=1e-3):
    """Central differences of ``sum(dy * y)`` w.r.t. the chosen entries.

    A convolution is linear in each single element, so the central difference
    has no truncation error and only round-off (about 1e-16 |L| / h) remains:
    a large step keeps it far below the tolerance even for entries near 0.
    """
    kwargs = _layer_kwargs(spec)

    def loss(vals):
        y = reference.conv_forward(vals["x"], vals["w"], vals.get("b"), **kwargs)
        return float(np.sum(vals["dy"] * y))

    estimates = []
    for index in entries:
        shifted = dict(values)
        tensor = values[name].copy()
        shifted[name] = tensor
        tensor[index] = values[name][index] + h
        up = loss(shifted)
        tensor[index] = values[name][index] - h
        down = loss(shifted)
        estimates.append((up - down) / (2 * h))
    return np.array(estimates)


def verify(derivation, seed: int = 0, fd_samples: int = 64, exact: bool | None = None) -> Report:
    """Check a derivation three ways; see the module docstring.

    ``fd_samples`` caps the finite-difference entries per tensor (chosen at
    random); ``exact`` forces the rational check on or off (default: on for
    layers up to :data:`EXACT_TERM_LIMIT` terms).
    """
    spec = derivation.spec
    rng = np.random.default_rng(seed)
    values = _random_values(spec, rng, exact=False)
    derived = _derived_outputs(derivation, values, float)
    expected = _reference_outputs(spec, values)
    if exact is None:
        exact = spec.estimate_terms() <= EXACT_TERM_LIMIT
    exact_equal = {}
    if exact:
        rational = _random_values(spec, rng, exact=True)
        derived_q = _derived_outputs(derivation, rational, object)
        expected_q = _reference_outputs(spec, rational)
        exact_equal = {
            name: bool(np.array_equal(derived_q[name], expected_q[name])) for name in expected_q
        }
    checks = []
    for name in expected:
        fd_error, count = None, 0
        if name != "y":
            tensor = name[1:]
            all_entries = list(np.ndindex(*values[tensor].shape))
            if len(all_entries) > fd_samples:
                picks = rng.choice(len(all_entries), size=fd_samples, replace=False)
                all_entries = [all_entries[i] for i in sorted(picks)]
            estimates = _finite_differences(spec, values, tensor, all_entries)
            derived_at = np.array([derived[name][i] for i in all_entries])
            fd_error, count = rel_error(derived_at, estimates), len(all_entries)
        checks.append(
            Check(
                name,
                rel_error(derived[name], expected[name]),
                fd_error,
                count,
                exact_equal.get(name) if exact else None,
            )
        )
    from symconv.present import describe

    return Report(describe(spec), seed, tuple(checks))
