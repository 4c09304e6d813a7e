"""col2im for the reference convolution's dx, as long flat slices of the padded input's stride phases.

The backward of a convolution turns ``dy`` into a column gradient, one row
per (channel, tap), and every tap adds its row back onto the input positions
it was read from: position ``o*S + k*D`` of the padded input, along each
axis. Added as strided boxes (``dxp[..., k*D::S, ...] += ...``) that is one
short NumPy loop per output row, and on small layers those loops' overhead
was most of the add (a (32, 3, 32, 32) 3x3 layer spent a quarter of its
backward there).

Here the padded input is first cut into its stride phases: along an axis of
padded length ``P`` and stride ``S``, phase ``r`` holds the positions ``r,
r + S, r + 2S, ...`` (``Q = ceil(P / S)`` of them). Tap ``k`` reads phase
``(k*D) % S`` from position ``o + (k*D) // S``: a plain shift by ``(k*D)
// S``, the same for every output. Lay each phase out flat (rows of ``Q``
along the last axis) and the outputs on a grid of the same row length
(``Q`` along the last axis, with ``Q - O`` unused cells at the end of each
row): then a tap's whole row of column gradients is one contiguous slice
of its phase, at a fixed offset, and col2im is ``prod(K)`` long additions.

The unused cells of the grid hold ``dy = 0``, so their column gradients are
``w * 0 = 0`` and what they add (onto padding, or onto a real position, by
a shift that runs past the end of a row) changes nothing, as long as ``w``
is finite: :func:`plan` refuses the others, which take the strided route.

>>> p = plan((1, 1, 5), ((1, 1),), (3,), (2,), (1,), (3,))
>>> p.length, p.taps, p.phase_shape
(3, [(0, 0), (1, 0), (0, 1)], (4,))
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

__all__ = ["plan"]


class Plan(NamedTuple):
    """How the column gradients of one convolution go back onto its padded input."""

    phases: int  # stride phases of the padded input, prod(S)
    phase_shape: tuple[int, ...]  # Q per axis: the shape of one phase
    grid_shape: tuple[int, ...]  # (O_1, Q_2, ..., Q_d): the outputs laid on the phase's rows
    length: int  # flat cells of the grid from the first output to the last
    taps: list[tuple[int, int]]  # per tap in row-major order: (phase, flat shift within it)
    pads: tuple[tuple[int, int], ...]
    stride: tuple[int, ...]
    out: tuple[int, ...]

    def grid(self, samples, channels, dtype):
        """A zeroed grid buffer for ``samples`` x ``channels`` maps of outputs."""
        return np.zeros((samples, channels) + self.grid_shape, dtype=dtype)

    def fill(self, grid, values):
        """Write ``values`` (m, channels, *out) into the grid's output cells;
        returns the (m, channels, length) flat view a GEMM reads."""
        m = values.shape[0]
        grid[(slice(0, m), slice(None), slice(None)) + tuple(slice(0, o) for o in self.out[1:])] = values
        return grid[:m].reshape((m, grid.shape[1], -1))[..., : self.length]

    def add(self, target, columns):
        """col2im: add ``columns`` (m, C, taps, length) onto ``target`` (m, C, phases, prod(Q))."""
        length = self.length
        for tap, (phase, shift) in enumerate(self.taps):
            view = target[:, :, phase, shift : shift + length]
            view += columns[:, :, tap]

    def zeros(self, samples, channels, dtype):
        return np.zeros((samples, channels, self.phases, math.prod(self.phase_shape)), dtype=dtype)

    def unphase(self, target, shape, out=None):
        """The gradient of x (shape ``shape``) from the phases of the padded
        gradient: a cropped view without strides, else written into ``out``
        (a new array if None)."""
        n, c = target.shape[:2]
        if self.phases == 1:  # no strides: the padded gradient itself, cropped
            padded = target.reshape((n, c) + self.phase_shape)
            return padded[(slice(None), slice(None)) + tuple(slice(lo, lo + size) for size, (lo, _)
                                                             in zip(shape[2:], self.pads))]
        dx = np.empty(shape, dtype=target.dtype) if out is None else out
        for number, phase in enumerate(itertools.product(*(range(s) for s in self.stride))):
            src, dst = [], []
            for r, s, (lo, _), size in zip(phase, self.stride, self.pads, shape[2:]):
                first = (r - lo) % s  # the first position of x in phase r
                src.append(slice((first + lo - r) // s, (first + lo - r) // s + len(range(first, size, s))))
                dst.append(slice(first, None, s))
            values = target[:, :, number].reshape((n, c) + self.phase_shape)
            dx[(Ellipsis,) + tuple(dst)] = values[(Ellipsis,) + tuple(src)]
        return dx


def plan(x_shape, pads, kernel, stride, dilation, out):
    """The :class:`Plan` for a convolution of input shape ``x_shape``."""
    padded = [size + lo + hi for size, (lo, hi) in zip(x_shape[2:], pads)]
    phase_shape = tuple(-(-p // s) for p, s in zip(padded, stride))
    steps = [math.prod(phase_shape[axis + 1:]) for axis in range(len(phase_shape))]
    phase_steps = [math.prod(stride[axis + 1:]) for axis in range(len(stride))]
    taps = []
    for tap in itertools.product(*(range(k) for k in kernel)):
        phase = sum((t * d) % s * step for t, d, s, step in zip(tap, dilation, stride, phase_steps))
        shift = sum((t * d) // s * step for t, d, s, step in zip(tap, dilation, stride, steps))
        taps.append((phase, shift))
    length = sum((o - 1) * step for o, step in zip(out, steps)) + 1
    return Plan(math.prod(stride), phase_shape, (out[0],) + phase_shape[1:], length, taps,
                tuple(pads), tuple(stride), tuple(out))
