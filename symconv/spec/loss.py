r"""The loss a layer or a stack ends in, checked against the output it reads.

* ``sum``: ``L = sum(dy * y)`` with dy given (what symconv has always
  derived); ``--reduction mean`` divides it by the batch size N.
* ``mse``: PyTorch's ``mse_loss(y, t)``, ``L = sum((y - t)^2)``, divided under
  ``mean`` by the number of elements of y; the target t has y's shape.
* ``cross_entropy``: PyTorch's ``cross_entropy(y, t)`` of logits y of shape
  (N, K) and integer labels t of shape (N,), each ``t[n]`` in 0..K-1:
  ``L = sum_n (log sum_k exp(y[n, k]) - y[n, t[n]])``, divided under ``mean``
  by N.

The reduction defaults as in PyTorch: ``mean`` for mse and cross-entropy,
``sum`` for the sum loss (as before losses existed).

>>> loss_spec("cross_entropy", None, (2, 3)).reduction, loss_spec("cross_entropy", None, (2, 3)).divisor
('mean', 2)
>>> loss_spec("cross_entropy", "sum", (1, 2, 3))
Traceback (most recent call last):
...
symconv.errors.SymconvError: loss: got cross_entropy for an output y of shape 1,2,3, expected y of shape N,K (2 axes: N samples, K classes' logits)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from symconv.errors import SymconvError
from symconv.names import LOSSES, REDUCTIONS
from symconv.spec.values import read_ints, shown

#: What each reduction means for each loss, for help texts and refusals.
MEANINGS = {
    "sum": "sum: L = sum(dy*y); mean: that divided by the batch size N",
    "mse": "sum: the sum of (y - t)^2 over all elements; mean: divided by their number",
    "cross_entropy": "sum: the sum over the batch of -log softmax(y[n])[t[n]]; mean: divided by N",
}
#: A target value as text: a decimal (an exponent of at most three digits) or p/q.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?|[+-]?[0-9]+/[0-9]+")


@dataclass(frozen=True)
class LossSpec:
    """A loss, its reduction and the shape of the output y it reads."""

    kind: str
    reduction: str
    output: tuple[int, ...]

    @property
    def derives(self) -> bool:
        """Whether dy is derived from the loss (mse, cross-entropy) or given (the sum loss)."""
        return self.kind != "sum"

    @property
    def target_shape(self) -> tuple[int, ...] | None:
        """t's shape: y's for mse, (N,) labels for cross-entropy, none for the sum loss."""
        return {"sum": None, "mse": self.output, "cross_entropy": self.output[:1]}[self.kind]

    @property
    def divisor(self) -> int:
        """What ``mean`` divides the summed loss by (1 under ``sum``)."""
        if self.reduction == "sum":
            return 1
        return math.prod(self.output) if self.kind == "mse" else self.output[0]

    def estimate_terms(self) -> int:
        """Terms of dy: two per element for mse, K + 2 per element for cross-entropy."""
        size = math.prod(self.output)
        return {"sum": 0, "mse": 2 * size, "cross_entropy": size * (self.output[-1] + 2)}[self.kind]

    def count_entries(self) -> int:
        """Equations of dy, one per element of y when dy is derived."""
        return math.prod(self.output) if self.derives else 0

    def to_dict(self) -> dict:
        """The keys a JSON output adds to its layer: the sum loss adds none but the reduction."""
        return ({"loss": self.kind} if self.derives else {}) | {"reduction": self.reduction}


def _reduction(kind: str, reduction) -> str:
    if reduction is None:
        return "sum" if kind == "sum" else "mean"
    text = str(reduction).strip()
    if text in REDUCTIONS:
        return text
    if text == "none":
        raise SymconvError(
            f"reduction: got {shown(reduction)!r}, expected sum or mean (a gradient needs one number L; "
            f"PyTorch's 'none' keeps one loss per element)"
        )
    raise SymconvError(f"reduction: got {shown(reduction)!r}, expected sum or mean (for --loss {kind}, "
                       f"{MEANINGS[kind]})")


def loss_spec(kind: str = "sum", reduction: str | None = None, output=()) -> LossSpec:
    """Validate a loss for the output shape ``output`` (``reduction=None``: PyTorch's default)."""
    if kind not in LOSSES:
        raise SymconvError(f"loss: got {shown(kind)!r}, expected one of {', '.join(LOSSES)}")
    reduction = _reduction(kind, reduction)
    output = tuple(output)
    if kind == "cross_entropy" and len(output) != 2:
        raise SymconvError(
            f"loss: got cross_entropy for an output y of shape {shown(output)}, expected y of shape N,K "
            f"(2 axes: N samples, K classes' logits)"
        )
    return LossSpec(kind, reduction, output)


def _number(part, position: int, given) -> Fraction:
    """One mse target value: text (a decimal or p/q), or an int, a Fraction or a finite float."""
    if isinstance(part, (int, Fraction)) and not isinstance(part, bool):
        return Fraction(part)
    if isinstance(part, float) and math.isfinite(part):
        return Fraction(part)
    text = part.strip() if isinstance(part, str) else None
    if text is None or _NUMBER.fullmatch(text) is None:
        raise SymconvError(f"target: got {shown(given)!r}, expected numbers such as 0.5, -1e-2 or 1/3; "
                           f"cannot read {shown(part)!r} (value {position + 1})")
    try:
        value = Fraction(text)
        float(value)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise SymconvError(f"target: got {shown(given)!r}, expected numbers a float64 can hold; "
                           f"cannot use {text!r} (value {position + 1})") from None
    return value


def _label(part, position: int, given, classes: int) -> int:
    if isinstance(part, str):
        (part,) = read_ints(part, "target", f"integer labels, each in 0..{classes - 1}")
    elif not isinstance(part, int) or isinstance(part, bool):
        raise SymconvError(f"target: got {shown(given)!r}, expected integer labels, each in 0..{classes - 1}; "
                           f"{shown(part)!r} (value {position + 1}) is not an integer")
    if not 0 <= part < classes:
        raise SymconvError(f"target: got label {part} for t[{position}], expected a class in "
                           f"0..{classes - 1} (y has K = {classes} logits per sample)")
    return int(part)


def read_target(loss: LossSpec, given) -> tuple:
    """Target values given by the user, checked against the loss: a flat tuple in row-major order.

    ``given`` is text (``"0,2"``) or a flat sequence. Cross-entropy takes N
    integer labels, each in 0..K-1; mse one number per element of y
    (decimals or p/q, held exactly as fractions).

    >>> read_target(loss_spec("cross_entropy", None, (2, 3)), "2, 0")
    (2, 0)
    >>> read_target(loss_spec("cross_entropy", None, (2, 3)), "2,3")
    Traceback (most recent call last):
    ...
    symconv.errors.SymconvError: target: got label 3 for t[1], expected a class in 0..2 (y has K = 3 logits per sample)
    """
    if not loss.derives:
        raise SymconvError(f"target: got {shown(given)!r}, expected no target for --loss sum "
                           f"(its dy is drawn; give --loss mse or cross_entropy)")
    parts = list(given) if isinstance(given, (tuple, list)) else str(given).split(",")
    count = math.prod(loss.target_shape)
    what = "labels, one per sample" if loss.kind == "cross_entropy" else "values, one per element"
    if len(parts) != count:
        raise SymconvError(f"target: got {len(parts)} values, expected {count} {what} of y "
                           f"{shown(loss.output)} in row-major order")
    if loss.kind == "cross_entropy":
        return tuple(_label(p, i, given, loss.output[1]) for i, p in enumerate(parts))
    return tuple(_number(p, i, given) for i, p in enumerate(parts))
