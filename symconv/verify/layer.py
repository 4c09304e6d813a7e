"""Prove a derivation: compare it with things that do not share its code.

For a derived layer, at seeded random values of x, w, b and dy:

* **reference**: the derived forward and gradients, evaluated in float64,
  against the NumPy reference kernels (:mod:`symconv.reference.conv`);
* **finite differences**: each gradient against central differences of the
  reference forward's loss ``L = sum(dy * y)`` (on a random sample of entries
  for large tensors);
* **exact**: the derived expressions and the reference evaluated in exact
  rational arithmetic (``fractions.Fraction``) must be *equal*.

Errors use cs231n's ``rel_error``: ``max |a-b| / max(1e-8, |a|+|b|)``,
element-wise.

>>> from symconv.spec.conv import conv_spec
>>> from symconv.engine.derive import derive
>>> report = verify(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))))
>>> report.passed
True
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from symconv import reference
from symconv.reference import activation as reference_activation
from symconv.engine.evaluate import evaluate_table
from symconv.spec.conv import ConvSpec
from symconv.spec.pool import PoolSpec

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

    def _repr_html_(self) -> str:  # Jupyter shows the table
        from symconv.printing.jupyter import report_html

        return report_html(self)


def layer_kernels(spec, names=None, scale=1):
    """The reference kernels for one layer, reading and writing named tensors.

    Returns ``(forward, backward, smooth)``: ``forward(values)`` is the
    layer's output from ``values[names["x"]]`` (and ``w``, ``b``);
    ``backward(values)`` the dict of gradients, keyed ``"d" + name`` and
    multiplied by ``scale``, from the upstream ``values["d" + names["y"]]``;
    ``smooth`` says whether the layer is linear in each single input (a
    convolution, an average pool) rather than piecewise.
    """
    names = names or {"x": "x", "w": "w", "b": "b", "y": "y"}
    x, up = names["x"], "d" + names["y"]

    def scaled(array):
        return array * scale if array.dtype == object else array * float(scale)

    if isinstance(spec, ConvSpec):
        options = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups)
        w, b = names["w"], names["b"]

        def forward(v):
            return reference.conv_forward(v[x], v[w], v[b] if spec.bias else None, **options)

        def backward(v):
            dx, dw, db = reference.conv_backward(v[up], v[x], v[w], **options)
            grads = {"d" + x: dx, "d" + w: dw, "d" + b: db} if spec.bias else {"d" + x: dx, "d" + w: dw}
            return {name: scaled(g) for name, g in grads.items()}

        return forward, backward, True
    if isinstance(spec, PoolSpec):
        options = dict(stride=spec.stride, padding=spec.padding, ceil_mode=spec.ceil_mode)
        if spec.is_max:
            options["dilation"] = spec.dilation
            pool, unpool = reference.max_pool_forward, reference.max_pool_backward
        else:
            options.update(count_include_pad=spec.count_include_pad, divisor_override=spec.divisor_override)
            pool, unpool = reference.avg_pool_forward, reference.avg_pool_backward
        return (
            lambda v: pool(v[x], spec.kernel, **options),
            lambda v: {"d" + x: scaled(unpool(v[up], v[x], spec.kernel, **options))},
            not spec.is_max,
        )
    slope = spec.negative_slope
    return (
        lambda v: reference_activation.relu_forward(v[x], slope),
        lambda v: {"d" + x: scaled(reference_activation.relu_backward(v[up], v[x], slope))},
        False,
    )


def _kernels(derivation):
    """:func:`layer_kernels` for a single-layer derivation (1/N for the mean)."""
    spec = derivation.spec
    scale = Fraction(1, spec.input[0]) if derivation.reduction == "mean" else 1
    return layer_kernels(spec, scale=scale)


def _input_shapes(derivation) -> dict:
    shapes = {k: v for k, v in derivation.shapes.items() if v is not None and k != "y"}
    shapes["dy"] = derivation.shapes["y"]
    return shapes


def _random_values(shapes, rng, smooth: bool):
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


def _fractions(integers, denominators=None):
    array = np.empty(integers.shape, dtype=object)
    for index in np.ndindex(*integers.shape):
        q = 1 if denominators is None else int(denominators[index])
        array[index] = Fraction(int(integers[index]), q)
    return array


def _rational_trials(shapes, rng, smooth: bool):
    """Exact inputs: random rationals, and for piecewise layers tie-heavy ones.

    Ties (constant inputs, inputs of only 0 and 1) are where a max pool or a
    ReLU must follow PyTorch's rule exactly; finite differences cannot check
    them, exact comparison with the reference can.
    """
    random = {k: _fractions(rng.integers(-9, 10, size=s), rng.integers(1, 10, size=s)) for k, s in shapes.items()}
    trials = [random]
    if not smooth:
        for x in (np.zeros(shapes["x"], dtype=int), rng.integers(0, 2, size=shapes["x"])):
            trials.append(dict(random, x=_fractions(x)))
    return trials


def _derived_outputs(derivation, values, dtype):
    outputs = {"y": evaluate_table(derivation.forward, derivation.shapes["y"], values, dtype)}
    for name, table in derivation.gradients.items():
        outputs[name] = evaluate_table(table, derivation.shapes[name[1:]], values, dtype)
    return outputs


def finite_differences(forward, values, name, entries, h, divisor=1):
    """Central differences of ``L = sum(dy * forward(values)) / divisor``.

    The outputs are subtracted *before* the sum, ``sum(dy * (y+ - y-))``:
    outputs the perturbed entry does not reach cancel exactly, so round-off
    scales with the few outputs it does reach, not with the whole of L.
    """
    estimates = []
    for index in entries:
        shifted = dict(values)
        tensor = values[name].copy()
        shifted[name] = tensor
        tensor[index] = values[name][index] + h
        up = forward(shifted)
        tensor[index] = values[name][index] - h
        down = forward(shifted)
        estimates.append(float(np.sum(values["dy"] * (up - down))) / (2 * h) / divisor)
    return np.array(estimates)


def verify(derivation, seed: int = 0, fd_samples: int = 64, exact: bool | None = None) -> Report:
    """Check a derivation three ways; see the module docstring.

    ``fd_samples`` caps the finite-difference entries per tensor (chosen at
    random); ``exact`` forces the rational check on or off (default: on for
    layers up to :data:`EXACT_TERM_LIMIT` terms).
    """
    spec = derivation.spec
    forward, backward, smooth = _kernels(derivation)
    shapes = _input_shapes(derivation)
    rng = np.random.default_rng(seed)
    values = _random_values(shapes, rng, smooth)
    derived = _derived_outputs(derivation, values, float)
    expected = {"y": forward(values), **backward(values)}
    if exact is None:
        exact = spec.estimate_terms() <= EXACT_TERM_LIMIT
    exact_equal = {}
    if exact:
        exact_equal = {name: True for name in expected}
        for trial in _rational_trials(shapes, rng, smooth):
            derived_q = _derived_outputs(derivation, trial, object)
            expected_q = {"y": forward(trial), **backward(trial)}
            for name in expected_q:
                exact_equal[name] &= bool(np.array_equal(derived_q[name], expected_q[name]))
    divisor = spec.input[0] if derivation.reduction == "mean" else 1
    # The step is as large as is safe, to keep round-off small: a layer
    # linear in each input has no truncation error at all, and a piecewise
    # one is linear within 10 steps of x (see _random_values).
    step = 1e-3
    checks = []
    for name in expected:
        fd_error, count = None, 0
        if name != "y":
            tensor = name[1:]
            entries = list(np.ndindex(*values[tensor].shape))
            if len(entries) > fd_samples:
                picks = rng.choice(len(entries), size=fd_samples, replace=False)
                entries = [entries[i] for i in sorted(picks)]
            estimates = finite_differences(forward, values, tensor, entries, step, divisor)
            derived_at = np.array([derived[name][i] for i in entries])
            fd_error, count = rel_error(derived_at, estimates), len(entries)
        checks.append(
            Check(
                name,
                rel_error(derived[name], expected[name]),
                fd_error,
                count,
                exact_equal.get(name) if exact else None,
            )
        )
    from symconv.printing.present import describe

    return Report(describe(spec) + ("" if derivation.reduction == "sum" else ", mean reduction"),
                  seed, tuple(checks))
