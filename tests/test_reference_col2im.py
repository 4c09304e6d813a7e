"""The convolution's col2im as flat slices of stride phases (symconv.reference.col2im).

Float layers with a finite kernel add their column gradients back that way;
exact (Fraction) layers keep the strided boxes. With small integer values
every float sum is exact, so the two routes must agree bit for bit, on
every geometry; and a kernel with an infinity must not spread NaN (inf * 0
from the unused grid cells) onto inputs it never reaches.
"""

from __future__ import annotations

import itertools
import zlib
from fractions import Fraction

import numpy as np
import pytest

from symconv.reference import col2im, conv_backward, conv_forward

# x shape, w shape, options: strides 1-3 (and larger than the kernel), dilation,
# groups, asymmetric and 'same' padding, 1-D, 2-D and 3-D.
GEOMETRIES = {
    "2d-s1-p1": ((2, 3, 6, 7), (4, 3, 3, 3), dict(padding=1)),
    "2d-s2-p1": ((2, 4, 7, 6), (3, 4, 3, 3), dict(stride=2, padding=1)),
    "2d-s3-k2": ((1, 2, 8, 9), (2, 2, 2, 2), dict(stride=3)),
    "2d-s2-d2-g2": ((2, 4, 9, 8), (6, 2, 3, 2), dict(stride=2, dilation=2, padding=(2, 1), groups=2)),
    "2d-same-even": ((1, 2, 5, 6), (3, 2, 2, 4), dict(padding="same")),
    "2d-pairs": ((1, 2, 6, 5), (2, 2, 3, 3), dict(stride=(1, 2), padding=((0, 2), (1, 0)))),
    "1d-s2-d3": ((2, 3, 13), (2, 3, 3), dict(stride=2, dilation=3, padding=2)),
    "3d-s2-p1": ((1, 2, 5, 6, 5), (3, 2, 3, 2, 3), dict(stride=(2, 1, 2), padding=1)),
}


def small_ints(shape, rng, dtype):
    values = rng.integers(-3, 4, size=shape)
    if dtype is float:
        return values.astype(float)
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = Fraction(int(values[index]))
    return out


@pytest.mark.parametrize("xs, ws, options", GEOMETRIES.values(), ids=list(GEOMETRIES))
def test_flat_route_equals_the_strided_boxes_bit_for_bit(xs, ws, options):
    rng = np.random.default_rng(zlib.crc32(repr((xs, ws, options)).encode()))
    seeds = rng.integers(0, 2**32, size=3)
    x, w = (small_ints(s, np.random.default_rng(seed), float) for s, seed in zip((xs, ws), seeds))
    dy = small_ints(conv_forward(x, w, **options).shape, np.random.default_rng(seeds[2]), float)
    dx, dw, _ = conv_backward(dy, x, w, **options)
    exact = conv_backward(*(a.astype(int).astype(object) for a in (dy, x, w)), **options)[0]
    assert dx.dtype == np.float64
    np.testing.assert_array_equal(dx, exact.astype(float))
    assert dw.shape == w.shape


def test_an_infinite_kernel_entry_reaches_only_the_inputs_its_tap_reads():
    # Tap (0, 0) of w is infinite: it reaches x[i, j] only from window (i, j),
    # i.e. the top-left 4x4 inputs of this 6x6 layer (3x3 kernel, no padding).
    x = np.ones((1, 1, 6, 6))
    w = np.ones((1, 1, 3, 3))
    w[0, 0, 0, 0] = np.inf
    dy = np.ones((1, 1, 4, 4))
    dx = conv_backward(dy, x, w)[0][0, 0]
    assert np.isinf(dx[:4, :4]).all()
    assert np.isfinite(dx[4:, :]).all() and np.isfinite(dx[:, 4:]).all()
    np.testing.assert_array_equal(dx[4:, 4:], [[4.0, 2.0], [2.0, 1.0]])


def test_every_tap_lands_inside_its_phase():
    # The largest shift plus the grid's used length never runs past a phase.
    for kernel, stride, dilation, size, pad in itertools.product((1, 2, 3), (1, 2, 3), (1, 2), (5, 8), (0, 1)):
        if dilation * (kernel - 1) + 1 > size + 2 * pad:
            continue
        out = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
        p = col2im.plan((1, 1, size), ((pad, pad),), (kernel,), (stride,), (dilation,), (out,))
        assert all(shift + out <= p.size for _, shift in p.taps)
        assert sorted({phase for phase, _ in p.taps}) == sorted({(t * dilation) % stride for t in range(kernel)})


@pytest.mark.parametrize("stride", [1, 2])
def test_an_infinite_kernel_entry_gives_pytorchs_dx(stride):
    # F <= C at stride 1 is the layer that took the correlation shortcut, which
    # reads the padding's zeros (inf * 0 = NaN): a kernel with an infinity goes
    # the col2im way instead, like every other layer.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7 + stride)
    x, w = rng.integers(-2, 3, (2, 4, 6, 5)).astype(float), rng.integers(-2, 3, (3, 4, 3, 3)).astype(float)
    w[1, 2, 0, 1] = np.inf
    with np.errstate(invalid="ignore"):  # y itself has inf - inf = NaN here
        y = conv_forward(x, w, stride=stride, padding=1)
    dy = rng.integers(1, 3, y.shape).astype(float)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, stride=stride, padding=1).backward(torch.tensor(dy))
    dx, dw, _ = conv_backward(dy, x, w, stride=stride, padding=1)
    assert np.isinf(dx).any() and np.isfinite(dx).any()
    np.testing.assert_array_equal(dx, xt.grad.numpy())
