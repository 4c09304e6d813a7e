"""Specs of max and average pooling layers, in 1, 2 or 3 spatial axes.

Conventions are PyTorch's (``torch.nn.functional.max_pool2d``,
``avg_pool2d``, ``relu``, ``leaky_relu``):

* stride defaults to the kernel; padding is symmetric and at most half the
  kernel (``pad <= K // 2``: PyTorch checks half the *effective* kernel in
  Python and half the kernel itself in C++, and the second is the binding one);
* output size ``floor_or_ceil((H + 2P - D(K-1) - 1)/S) + 1``; with
  ``ceil_mode`` a last window that would start inside the right padding is
  dropped;
* max pooling pads with -inf (never selected); average pooling divides by the
  window clipped to the padded input (``count_include_pad=True``), by the
  in-bounds count (``False``), or by ``divisor_override``.

>>> pool_spec("maxpool2d", (1, 1, 5, 5), kernel=2, ceil_mode=True).output_shape
(1, 1, 3, 3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from symconv.errors import SymconvError
from symconv.names import POOL_KINDS
from symconv.spec.values import (
    MAX_INTEGER,
    as_given,
    axis_names,
    check_kernel_fits,
    is_int,
    output_size,
    per_axis,
    shape_of,
    shown,
)




@dataclass(frozen=True)
class PoolSpec:
    """A max or average pooling layer, normalized to per-axis tuples."""

    kind: str
    input: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None

    is_stack = False
    sympy_terms = False  # its terms are term tables (the size guard's weight: spec/size.py)
    parameters = ()

    @property
    def ndim(self) -> int:
        return POOL_KINDS[self.kind]

    @property
    def is_max(self) -> bool:
        return self.kind.startswith("max")

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.input[:2] + tuple(
            output_size(h, k, s, p, p, d, self.ceil_mode)
            for h, k, s, p, d in zip(self.input[2:], self.kernel, self.stride, self.padding, self.dilation)
        )

    def _axis_windows(self, axis: int) -> tuple[tuple[int, tuple[int, ...]], ...]:
        return _axis_windows(self.input[2 + axis], self.kernel[axis], self.stride[axis], self.padding[axis],
                             self.dilation[axis], self.output_shape[2 + axis])

    def windows(self, axis: int) -> list[tuple[int, list[int]]]:
        """Per output position of one spatial axis: (padded start, in-bounds input positions)."""
        return [(start, list(inside)) for start, inside in self._axis_windows(axis)]

    def divisor(self, output_index) -> int:
        """Average pooling's divisor for the window of one output position."""
        if self.divisor_override is not None:
            return self.divisor_override
        count = 1
        for axis, o in enumerate(output_index[2:]):
            start, inside = self._axis_windows(axis)[o]  # cached: one output's divisor costs O(axes)
            if self.count_include_pad:
                # The window clipped to the padded input (not to x itself).
                size, k, p = self.input[2 + axis], self.kernel[axis], self.padding[axis]
                count *= min(start + k, size + p) - max(start, -p)
            else:
                count *= len(inside)
        return count

    def estimate_terms(self) -> int:
        """Window elements over all outputs, times the pieces a max needs."""
        outputs, per_window = 1, 1
        for size in self.output_shape:
            outputs *= size
        for k in self.kernel:
            per_window *= k
        pieces = per_window * per_window if self.is_max else per_window
        return 2 * outputs * pieces

    def count_entries(self) -> int:
        """Equations in y and dx, one per element (see :meth:`ConvSpec.count_entries`)."""
        return math.prod(self.output_shape) + math.prod(self.input)

    def to_dict(self) -> dict:
        data = {
            "kind": self.kind,
            "input": list(self.input),
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "ceil_mode": self.ceil_mode,
            "output": list(self.output_shape),
        }
        if self.is_max:
            data["dilation"] = list(self.dilation)
        else:
            data["count_include_pad"] = self.count_include_pad
            data["divisor_override"] = self.divisor_override
        return data


@lru_cache(maxsize=256)
def _axis_windows(size, kernel, stride, padding, dilation, outputs):
    """Each output position's (padded start, in-bounds input positions) along one axis, computed once per axis."""
    windows = []
    for o in range(outputs):
        start = o * stride - padding
        windows.append((start, tuple(start + t * dilation for t in range(kernel) if 0 <= start + t * dilation < size)))
    return tuple(windows)


def _check_input(kind, input, ndim):
    return shape_of(input, "input", ("N", "C") + tuple(axis_names(ndim).split(",")), kind)


def _window_reads_input(start: int, kernel: int, dilation: int, size: int) -> bool:
    """Whether a window (taps start, start + D, ...) has a tap inside ``0 .. size - 1``."""
    first = max(0, -(start // dilation))  # the first tap at or after 0: ceil(-start / D)
    return first < kernel and start + first * dilation < size


def pool_spec(kind, input, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
              count_include_pad=True, divisor_override=None) -> PoolSpec:
    """Validate a pooling layer and return its normalized spec.

    >>> pool_spec("avgpool2d", (1, 1, 4, 4), kernel=3, padding=2)
    Traceback (most recent call last):
    ...
    symconv.errors.SymconvError: padding: got '2', expected at most half the kernel (3 // 2 = 1), as PyTorch requires
    """
    if kind not in POOL_KINDS:
        raise SymconvError(f"layer: got {kind!r}, expected one of {', '.join(POOL_KINDS)}")
    ndim = POOL_KINDS[kind]
    input = _check_input(kind, input, ndim)
    given_kernel, kernel = kernel, per_axis(kernel, "kernel", ndim, 1)
    stride = kernel if stride is None else per_axis(stride, "stride", ndim, 1)
    if isinstance(padding, (tuple, list)) and any(isinstance(p, (tuple, list)) for p in padding):
        raise SymconvError(
            f"padding: got {shown(padding)!r}, expected one integer per axis, not [before, after] pairs "
            f"(pooling pads both sides of an axis alike)"
        )
    given_padding, padding = padding, per_axis(padding, "padding", ndim, 0)
    dilation = per_axis(dilation, "dilation", ndim, 1)
    if not kind.startswith("max") and any(d != 1 for d in dilation):
        raise SymconvError(f"dilation: got {shown(dilation)!r}, expected 1 (average pooling has no dilation)")
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise SymconvError(
                f"padding: got {shown(given_padding)!r}, expected at most half the kernel "
                f"({k} // 2 = {k // 2}), as PyTorch requires"
            )
    if divisor_override is not None and (not is_int(divisor_override) or not 1 <= divisor_override <= MAX_INTEGER):
        raise SymconvError(f"divisor-override: got {as_given(divisor_override)}, expected a positive integer")
    if divisor_override is not None and kind.startswith("max"):
        raise SymconvError("divisor-override: got a value for max pooling, expected it only for average pooling")
    spec = PoolSpec(kind, input, kernel, stride, padding, dilation, bool(ceil_mode),
                    bool(count_include_pad), divisor_override)
    for axis, (h, k, s, p, d, out) in enumerate(zip(input[2:], kernel, stride, padding, dilation,
                                                     spec.output_shape[2:])):
        name = axis_names(ndim).split(",")[axis]
        check_kernel_fits("kernel", given_kernel, name, k, d, h + 2 * p)
        # Every window starts before the end of x (ceil_mode drops one that
        # would not), so only one starting in the left padding can miss x, and
        # only when the dilation outstrides the whole input (d > h: a window of
        # at most 2 taps, padding at most 1, once the kernel fits): few windows.
        if d > h:
            empty = [o for o in range(min(out, -(-p // s))) if not _window_reads_input(o * s - p, k, d, h)]
            if empty:
                # A dilated window can fall between padding and padding: its max is
                # -inf in PyTorch (and its backward undefined), nothing to derive.
                raise SymconvError(
                    f"dilation: got {shown(dilation)!r} with padding {shown(given_padding)!r}, whose window "
                    f"{empty[0]} on axis {name} reads only padding; expected every window to reach the input"
                )
    return spec
