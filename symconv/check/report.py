"""The result of checking a user's backward: per gradient, the diagnosis, the blind spots.

A :class:`CheckReport` is plain data; :mod:`symconv.check.writers` words it
in each format (``report.text()``, ``.markdown()``, ``.latex()``,
``.to_json()``), and notebooks show its Markdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from symconv.check.probes import wrong_mask
from symconv.check.writers import WRITERS, formula_text
from symconv.printing.formats import json_text


@dataclass(frozen=True)
class Gradient:
    """How one gradient (or the forward's ``y``) compares with the exact one over every probe.

    ``wrong`` lists the 0-based full indices of every wrong entry; ``problem``
    says why the gradient could not be compared (a wrong shape), and
    ``formulas`` holds ``(entry, yours, right)`` rebuilt by probing.
    """

    name: str
    ok: bool
    shape: tuple[int, ...]
    expected_shape: tuple[int, ...]
    wrong: tuple[tuple[int, ...], ...] = ()
    max_abs_error: float = 0.0
    problem: str = ""
    formulas: tuple = ()

    def to_dict(self) -> dict:
        data = {"ok": self.ok, "shape": list(self.shape), "expected_shape": list(self.expected_shape),
                "wrong": [list(e) for e in self.wrong],
                "max_abs_error": self.max_abs_error if math.isfinite(self.max_abs_error) else None}
        if self.problem:
            data["problem"] = self.problem
        if self.formulas:
            data["formulas"] = [{"entry": list(entry), "yours": formula_text(yours), "right": formula_text(right)}
                                for entry, yours, right in self.formulas]
        return data


def judge(name: str, yours: list, right: list, floors=None) -> Gradient:
    """Compare the user's ``name`` with the exact one on every probe (``floors``: each probe's noise floor)."""
    expected = tuple(right[0].shape)
    for value in yours:
        if tuple(value.shape) != expected:
            return Gradient(name, False, tuple(value.shape), expected, max_abs_error=math.inf,
                            problem=f"returned shape {list(value.shape)}, expected {list(expected)}")
    mask = np.zeros(expected, dtype=bool)
    error = 0.0
    for u, r, floor in zip(yours, right, floors or [0.0] * len(right)):
        mask |= wrong_mask(u, r, floor)
        with np.errstate(invalid="ignore"):
            difference = np.abs(u - r)
        error = max(error, math.inf if np.isnan(difference).any() else float(difference.max(initial=0.0)))
    wrong = tuple(tuple(int(i) for i in index) for index in np.argwhere(mask))
    return Gradient(name, not wrong, expected, expected, wrong, error)


@dataclass(frozen=True)
class CheckReport:
    """Whether a user's backward is right, and if not, where, why, and what the check cannot see."""

    ok: bool
    convention: str
    target: str
    spec: object
    gradients: dict = field(default_factory=dict)
    forward: Gradient | None = None
    diagnosis: tuple = ()
    blind_spots: tuple = ()
    error: str = ""
    probes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        data = {"ok": self.ok, "convention": self.convention, "target": self.target,
                "layer": self.spec.to_dict(),
                "gradients": {name: g.to_dict() for name, g in self.gradients.items()}}
        if self.forward is not None:
            data["forward"] = self.forward.to_dict()
        if self.error:
            data["error"] = self.error
        data["diagnosis"] = [{"class": f.name, "gradients": list(f.gradients), "message": f.message}
                             for f in self.diagnosis]
        data["blind_spots"] = [{"class": b.name, "gradients": list(b.gradients), "message": b.message,
                                "suggest": b.suggest} for b in self.blind_spots]
        data["probes"] = list(self.probes)
        return data

    def to_json(self) -> str:
        return json_text(self.to_dict(), records=True)

    def text(self) -> str:
        return WRITERS["text"](self)

    def markdown(self) -> str:
        return WRITERS["markdown"](self)

    def latex(self) -> str:
        return WRITERS["latex"](self)

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __str__(self) -> str:
        return self.text()

    def assert_ok(self) -> "CheckReport":
        """Raise AssertionError, whose message is the readable report, unless every gradient is right."""
        if not self.ok:
            raise AssertionError("\n" + self.text())
        return self
