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
// S``, the same for every output. Lay the outputs on a grid shaped like a
phase (``O <= Q`` used cells along each axis, the rest unused): then, with
each phase flat and its channels one after another, a tap's column
gradients for all channels are one contiguous slice at a fixed offset, and
col2im is ``prod(K)`` additions of long slices (the column gradients come
tap-major from the GEMM, so each tap's are one block too).

The unused cells of the grid hold ``dy = 0``, so their column gradients are
``w * 0 = 0`` and what they add (onto padding, or onto a real position, by
a shift that runs past the end of a row or a channel) changes nothing, as
long as ``w`` is finite: the convolution sends the others the strided way.

>>> p = plan((1, 1, 5), ((1, 1),), (3,), (2,), (1,), (3,))
>>> p.taps, p.phase_shape
([(0, 0), (1, 0), (0, 1)], (4,))
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
    taps: list[tuple[int, int]]  # per tap in row-major order: (phase, flat shift within it)
    pads: tuple[tuple[int, int], ...]
    stride: tuple[int, ...]
    out: tuple[int, ...]

    @property
    def size(self):
        """Cells of one phase, and of the grid the outputs are laid on."""
        return math.prod(self.phase_shape)

    def grid(self, samples, channels, dtype):
        """A zeroed grid buffer for ``samples`` x ``channels`` maps of outputs."""
        return np.zeros((samples, channels, self.size), dtype=dtype)

    def fill(self, grid, values):
        """Write ``values`` (m, channels, *out) into the grid's output cells;
        returns the (m, channels, size) view a GEMM reads."""
        m, channels = values.shape[:2]
        cells = grid[:m].reshape((m, channels) + self.phase_shape)
        cells[(Ellipsis,) + tuple(slice(0, o) for o in self.out)] = values
        return grid[:m]

    def zeros(self, samples, channels, dtype):
        """The padded input's gradient as its stride phases, flat per sample:
        (samples, phases * channels * size + slack). Each sample has room
        after its last phase for the largest shift, so what a shifted slice
        adds past a sample's end (zeros) stays in that sample, on its thread."""
        slack = max(shift for _, shift in self.taps)
        return np.zeros((samples, self.phases * channels * self.size + slack), dtype=dtype)

    def add(self, target, columns, groups):
        """col2im: add ``columns`` (m, G, taps, C/G, size), tap-major within each
        group, onto ``target`` (m, phases * C * size + slack) from :meth:`zeros`."""
        m, _, taps, per_group, size = columns.shape
        block = groups * per_group * size  # one phase of every channel
        for tap, (phase, shift) in enumerate(self.taps):
            # The channels of a phase lie one after another, so a tap's rows
            # for every channel are one slice; what runs past a channel's
            # end lands on the next channel's start, from unused cells (zeros).
            view = target[:, phase * block + shift : phase * block + shift + block]
            view = view.reshape(m, groups, per_group * size)
            view += columns[:, :, tap].reshape(m, groups, per_group * size)

    def unphase(self, target, shape, out=None):
        """The gradient of x (shape ``shape``) from :meth:`zeros`' phases: a
        cropped view without strides, else written into ``out`` (a new array
        if None)."""
        n, c = shape[:2]
        phases = target[:, : self.phases * c * self.size].reshape((n, self.phases, c) + self.phase_shape)
        if self.phases == 1:  # no strides: the padded gradient itself, cropped
            return phases[(slice(None), 0, slice(None)) + tuple(slice(lo, lo + size) for size, (lo, _)
                                                                 in zip(shape[2:], self.pads))]
        dx = np.empty(shape, dtype=target.dtype) if out is None else out
        for number, phase in enumerate(itertools.product(*(range(s) for s in self.stride))):
            src, dst = [], []
            for r, s, (lo, _), size in zip(phase, self.stride, self.pads, shape[2:]):
                first = (r - lo) % s  # the first position of x in phase r
                src.append(slice((first + lo - r) // s, (first + lo - r) // s + len(range(first, size, s))))
                dst.append(slice(first, None, s))
            dx[(Ellipsis,) + tuple(dst)] = phases[:, number][(Ellipsis,) + tuple(src)]
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
    return Plan(math.prod(stride), phase_shape, taps, tuple(pads), tuple(stride), tuple(out))
