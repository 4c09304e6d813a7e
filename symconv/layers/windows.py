"""The in-bounds elements of a pooling window, shared by max and average pooling."""

from __future__ import annotations

import itertools

from symconv.symbolic.tensors import element
from symconv.layers.rule import axes_text


def window_elements(spec, index, input_name):
    """The in-bounds elements of one output's window, in row-major scan order."""
    n, c, position = index[0], index[1], index[2:]
    per_axis = [spec.windows(axis)[o][1] for axis, o in enumerate(position)]
    return [element(input_name, (n, c) + where) for where in itertools.product(*per_axis)]


def pool_details(spec) -> list[str]:
    """The words every pool shares: kernel, stride, padding and ceil_mode."""
    parts = [f"kernel {axes_text(spec.kernel)}", f"stride {axes_text(spec.stride)}",
             f"padding {axes_text(spec.padding)}"]
    return parts


def pool_options(spec) -> dict:
    """The reference kernels' keywords every pool shares."""
    return dict(stride=spec.stride, padding=spec.padding, ceil_mode=spec.ceil_mode)


def scaled(array, scale):
    """A reference gradient times the loss's scale, exactly for object arrays."""
    return array * scale if array.dtype == object else array * float(scale)


def pool_reference(spec, names, scale, forward, backward, options):
    """A pool's reference kernels on named arrays: ``forward(x, kernel, **options)`` and its backward."""
    x, up = names["x"], "d" + names["y"]
    return (
        lambda values: forward(values[x], spec.kernel, **options),
        lambda values: {"d" + x: scaled(backward(values[up], values[x], spec.kernel, **options), scale)},
    )
