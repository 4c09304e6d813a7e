"""Padding modes for the reference convolution: x padded with its own entries, and the adjoint fold.

PyTorch's ``padding_mode`` (``torch.nn.Conv2d``) fills the padding from x:
``reflect`` mirrors x about its edge without repeating it, ``replicate``
repeats the edge, ``circular`` wraps around. NumPy's ``np.pad`` has the same
three rules (``reflect``, ``edge``, ``wrap``), so the padding here is
NumPy's; the gradient of x is then the padded input's gradient folded back,
each padded entry's share added onto the entry it copies.

>>> x = np.array([[[1.0, 2.0, 3.0]]])
>>> pad(x, ((2, 1),), "reflect")
array([[[3., 2., 1., 2., 3., 2.]]])
>>> fold(np.ones((1, 1, 6)), ((2, 1),), "reflect", (3,))
array([[[1., 3., 2.]]])
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_padding_mode", "pad", "fold"]


#: PyTorch's padding modes, as ``np.pad`` names them (zeros are the default path).
_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def check_padding_mode(mode, pads, shape):
    """Check ``mode`` and PyTorch's limits on the padding it fills from x."""
    if mode == "zeros":
        return mode
    if mode not in _NUMPY_MODES:
        raise ValueError(f"padding_mode: expected 'zeros', 'reflect', 'replicate' or 'circular', got {mode!r}")
    for size, pair in zip(shape, pads):
        if mode == "reflect" and max(pair) >= size:
            raise ValueError(f"padding: reflect padding must be smaller than the input size {size}, got {pair}")
        if mode == "circular" and max(pair) > size:
            raise ValueError(f"padding: circular padding must be at most the input size {size}, got {pair}")
    return mode


def pad(x, pads, mode):
    """x padded with its own entries, as ``torch.nn.functional.pad(x, ..., mode)`` does."""
    return np.pad(x, ((0, 0), (0, 0)) + tuple(pads), mode=_NUMPY_MODES[mode])


def fold(dxp, pads, mode, shape):
    """The gradient of x from that of x padded by ``mode``: the adjoint of :func:`pad`.

    Axis by axis, the interior is kept and each padded slice is added onto
    the slice of x it copies; which one is read off ``np.pad`` applied to the
    positions ``0 .. size - 1`` themselves.
    """
    for axis, (size, (lo, hi)) in enumerate(zip(shape, pads), start=2):
        if not lo and not hi:
            continue
        source = np.pad(np.arange(size), (lo, hi), mode=_NUMPY_MODES[mode])
        moved = np.moveaxis(dxp, axis, 0)
        folded = moved[lo:lo + size].copy()
        for position in list(range(lo)) + list(range(lo + size, lo + size + hi)):
            folded[source[position]] += moved[position]
        dxp = np.moveaxis(folded, 0, axis)
    return dxp
