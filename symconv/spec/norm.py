"""Specs of batch normalization in training mode, PyTorch's conventions.

``torch.nn.functional.batch_norm(x, None, None, w, b, training=True, eps=eps)``
normalizes every channel c by the statistics of the batch: its M = N * (spatial
size) values have mean ``mu_c`` and biased variance ``var_c``, and

.. math::  y = w_c \\frac{x - \\mu_c}{\\sqrt{\\mathrm{var}_c + \\epsilon}} + b_c .

``batchnorm1d`` takes N,C or N,C,L, ``batchnorm2d`` N,C,H,W. ``eps`` is held
exactly (1e-5 is the fraction 1/100000). PyTorch refuses, in training, a
channel of a single value (its variance is 0 whatever the data); so does this.

>>> spec = batchnorm_spec("batchnorm2d", (2, 4, 8, 8))
>>> spec.eps, spec.per_channel, spec.output_shape
(Fraction(1, 100000), 128, (2, 4, 8, 8))
>>> batchnorm_spec("batchnorm1d", (1, 3))
Traceback (most recent call last):
...
symconv.errors.SymconvError: input: got '1,3', expected more than one value per channel (N times the spatial size: 1 here), as PyTorch requires in training
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from symconv.errors import SymconvError
from symconv.names import NORM_KINDS
from symconv.spec.values import read_fraction, shape_of, shown

#: PyTorch's default eps, exactly.
DEFAULT_EPS = Fraction(1, 100_000)
#: The axes each kind's input may have, by rank.
_AXES = {"batchnorm1d": {2: ("N", "C"), 3: ("N", "C", "L")}, "batchnorm2d": {4: ("N", "C", "H", "W")}}


@dataclass(frozen=True)
class BatchNormSpec:
    """Batch normalization over N and the spatial axes, per channel, with the affine w and b (shape C)."""

    kind: str
    input: tuple[int, ...]
    eps: Fraction = DEFAULT_EPS

    is_stack = False
    sympy_terms = True  # built with SymPy: the size guard weighs its terms (spec/size.py)
    parameters = ("w", "b")
    bias = True

    @property
    def ndim(self) -> int:
        return len(self.input) - 2

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.input

    @property
    def weight(self) -> tuple[int]:
        return (self.input[1],)

    @property
    def bias_shape(self) -> tuple[int]:
        return (self.input[1],)

    @property
    def per_channel(self) -> int:
        """M: the values each channel's mean and variance are taken over (N times the spatial size)."""
        return math.prod(self.input) // self.input[1]

    def estimate_terms(self) -> int:
        """The terms derived, exactly: 11 per element of x.

        The compact form keeps every table linear in the size: mu, var, dw and
        db one term per element (a channel's sum), xhat two (``x - mu``, over
        the root), y two (``w xhat + b``), dx three (``dy``, the mean of dy
        and xhat times the mean of dy xhat, under one factor). Written out
        element by element, dx would instead hold M terms per entry.
        """
        return 11 * math.prod(self.input)

    def count_entries(self) -> int:
        """Equations: mu, var, w's and b's gradients per channel; xhat, y and dx per element."""
        return 3 * math.prod(self.input) + 4 * self.input[1]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "input": list(self.input), "eps": _fraction_text(self.eps),
                "output": list(self.output_shape)}


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


#: The smallest eps: float64 holds eps^(-3/2) down to about 1e-205.
MIN_EPS = Fraction(1, 10**200)


def batchnorm_spec(kind, input, eps=None) -> BatchNormSpec:
    """Validate a batch norm layer in training mode; ``eps`` a positive decimal or ``p/q`` (default 1e-5)."""
    if kind not in NORM_KINDS:
        raise SymconvError(f"layer: got {kind!r}, expected one of {', '.join(NORM_KINDS)}")
    given = tuple(input) if isinstance(input, (tuple, list)) else (input,)
    axes = _AXES[kind]
    if len(given) not in axes:
        other = " (batchnorm2d takes N,C,H,W)" if kind == "batchnorm1d" else " (batchnorm1d takes N,C or N,C,L)"
        wanted = " or ".join(",".join(a) for a in axes.values())
        raise SymconvError(f"input: got {shown(input)!r}, expected {wanted} for {kind}{other}")
    input = shape_of(given, "input", axes[len(given)], kind)
    if math.prod(input) // input[1] < 2:
        raise SymconvError(f"input: got {shown(input)!r}, expected more than one value per channel "
                           f"(N times the spatial size: 1 here), as PyTorch requires in training")
    value = DEFAULT_EPS if eps is None else read_fraction(eps, "eps", "1e-5")
    if value <= 0:
        raise SymconvError(f"eps: got {shown(eps)!r}, expected a positive number such as 1e-5 (it keeps "
                           f"the square root away from 0 for a constant channel)")
    if value < MIN_EPS:
        raise SymconvError(f"eps: got {shown(eps)!r}, expected at least 1e-200 (a constant channel's gradient "
                           f"divides by eps^(3/2), which float64 cannot hold below that)")
    return BatchNormSpec(kind, input, value)
