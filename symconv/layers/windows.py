"""The in-bounds elements of pooling windows, shared by max and average pooling.

Pool builders read only what the pool interface promises: ``spec.input``,
``spec.output_shape``, ``spec.ndim``, ``spec.windows(axis)`` (per output
position along an axis, its padded start and in-bounds input positions) and,
for averages, ``spec.divisor(index)``; so any spec honouring it (3-D,
adaptive) is built the same way.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from symconv.layers.rule import CONSTANT, axes_text, scaled
from symconv.symbolic.space import NO_FACTOR


def window_elements(spec, index, input_name):
    """The in-bounds elements of one output's window, in row-major scan order (SymPy objects)."""
    from symconv.symbolic.tensors import element

    n, c, position = index[0], index[1], index[2:]
    per_axis = [spec.windows(axis)[o][1] for axis, o in enumerate(position)]
    return [element(input_name, (n, c) + where) for where in itertools.product(*per_axis)]


def _axis_taps(windows) -> np.ndarray:
    """One axis's windows as an array (outputs, taps) of input positions, -1 where a tap is outside."""
    width = max([len(inside) for _, inside in windows] + [1])
    taps = np.full((len(windows), width), -1, dtype=np.int64)
    for o, (_, inside) in enumerate(windows):
        taps[o, : len(inside)] = inside
    return taps


def window_ids(spec, space, input_name: str) -> np.ndarray:
    """Every output's window as element ids of ``input_name`` in ``space``, row-major over the outputs.

    Row ``k`` is output ``k`` (flat, row-major: batch, channel, then space);
    its in-bounds elements come first, in row-major scan order, then
    :data:`NO_FACTOR` padding.
    """
    spatial_in, spatial_out = spec.input[2:], spec.output_shape[2:]
    taps = [_axis_taps(spec.windows(axis)) for axis in range(spec.ndim)]
    d = len(taps)
    # positions[o_1..o_d, t_1..t_d] per axis, broadcast over every axis's outputs and taps
    grids = []
    for axis, array in enumerate(taps):
        shape = [1] * (2 * d)
        shape[axis], shape[d + axis] = array.shape
        grids.append(array.reshape(shape))
    full = tuple(t.shape[0] for t in taps) + tuple(t.shape[1] for t in taps)
    inside, flat = np.ones(full, dtype=bool), np.zeros(full, dtype=np.int64)
    for axis, g in enumerate(grids):
        inside = inside & (g >= 0)
        flat = flat * spatial_in[axis] + g
    outputs, width = math.prod(spatial_out), math.prod(t.shape[1] for t in taps)
    flat, inside = flat.reshape(outputs, width), inside.reshape(outputs, width)
    order = np.argsort(~inside, axis=1, kind="stable")  # in-bounds taps first, scan order kept
    flat, inside = np.take_along_axis(flat, order, axis=1), np.take_along_axis(inside, order, axis=1)
    planes = math.prod(spec.input[:2])
    base = space.offsets[input_name] + np.arange(planes, dtype=np.int64)[:, None, None] * math.prod(spatial_in)
    ids = np.where(inside[None], base + flat[None], NO_FACTOR).reshape(planes * outputs, width)
    used = int(inside.sum(axis=1).max()) if outputs else 0
    return ids[:, : max(used, 1)]


def winner_leads(flat, real, x, origin):
    """Per window of a max pool: its winner's lead over the best rival, and the winner's origin.

    ``flat`` holds each window's candidate positions in x (row-major, ``real``
    false where a slot is padding); ``origin`` labels x's elements as
    functions of the leaves (:func:`symconv.layers.rule.fresh_origins`). The
    winner is the first maximum, as PyTorch picks it, and a rival is any
    candidate of another origin: copies of the winner move with it, and
    constants (one origin, ``CONSTANT``) never overtake one another, so a tie
    with either never changes what the window passes on. The output is the
    winner's value, so it has the winner's origin.
    """
    values = np.where(real, x.ravel()[flat], -np.inf)
    labels = np.where(real, origin.ravel()[flat], CONSTANT)
    winner = np.argmax(values, axis=-1)[..., None]  # the first maximum, as PyTorch picks it
    best = np.take_along_axis(values, winner, -1)
    winner_origin = np.take_along_axis(labels, winner, -1)
    rivals = real & (labels != winner_origin)
    runner_up = np.where(rivals, values, -np.inf).max(axis=-1, initial=-np.inf)
    return best[..., 0] - runner_up, winner_origin[..., 0]


def pool_details(spec) -> list[str]:
    """The words every pool shares: kernel, stride, padding and ceil_mode."""
    parts = [f"kernel {axes_text(spec.kernel)}", f"stride {axes_text(spec.stride)}",
             f"padding {axes_text(spec.padding)}"]
    return parts


def pool_options(spec) -> dict:
    """The reference kernels' keywords every pool shares."""
    return dict(stride=spec.stride, padding=spec.padding, ceil_mode=spec.ceil_mode)


def pool_reference(spec, names, scale, forward, backward, options):
    """A pool's reference kernels on named arrays: ``forward(x, kernel, **options)`` and its backward."""
    x, up = names["x"], "d" + names["y"]
    return (
        lambda values: forward(values[x], spec.kernel, **options),
        lambda values: {"d" + x: scaled(backward(values[up], values[x], spec.kernel, **options), scale)},
    )
