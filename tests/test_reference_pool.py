"""Tests for the pooling kernels of symconv.reference: a loop oracle and PyTorch."""

from __future__ import annotations

import math
import zlib
from fractions import Fraction

import numpy as np
import pytest

from symconv.reference import (
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)

# --------------------------------------------------------------------------
# Oracle: textbook loops over every window and every element of it, 2-D only,
# on fully normalised arguments. 1-D cases are lifted to 2-D with a unit
# height (kernel 1, stride 1, no padding), which cannot change the result.
# --------------------------------------------------------------------------


def oracle_out_size(size, k, s, p, d, ceil_mode):
    exact = Fraction(size + 2 * p - d * (k - 1) - 1, s)
    out = (math.ceil(exact) if ceil_mode else math.floor(exact)) + 1
    # ceil_mode: a last window starting in the right padding is dropped.
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def oracle_windows(x, kernel, stride, padding, dilation, ceil_mode):
    """Yield (n, c, i, j, members, padded_count) for every output element.

    ``members`` lists the in-bounds input positions of the window in row-major
    order; ``padded_count`` counts the window's positions inside the padded
    input (the count_include_pad divisor)."""
    n_batch, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh = oracle_out_size(height, kh, sh, ph, dh, ceil_mode)
    ow = oracle_out_size(width, kw, sw, pw, dw, ceil_mode)
    for n in range(n_batch):
        for c in range(channels):
            for i in range(oh):
                for j in range(ow):
                    members, padded_count = [], 0
                    for p in range(kh):
                        for q in range(kw):
                            r = i * sh - ph + p * dh
                            s = j * sw - pw + q * dw
                            if -ph <= r < height + ph and -pw <= s < width + pw:
                                padded_count += 1
                            if 0 <= r < height and 0 <= s < width:
                                members.append((r, s))
                    yield n, c, i, j, members, padded_count


def oracle_shape(x, kernel, stride, padding, dilation, ceil_mode):
    return x.shape[:2] + tuple(
        oracle_out_size(x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode) for a in (0, 1)
    )


def oracle_max(x, dy, kernel, stride, padding, dilation, ceil_mode):
    shape = oracle_shape(x, kernel, stride, padding, dilation, ceil_mode)
    y = np.zeros(shape, dtype=x.dtype)
    dx = np.zeros(x.shape, dtype=x.dtype)
    for n, c, i, j, members, _ in oracle_windows(x, kernel, stride, padding, dilation, ceil_mode):
        if not members:
            y[n, c, i, j] = float("-inf")
            continue
        values = [x[n, c, r, s] for r, s in members]
        best = max(values)
        y[n, c, i, j] = best
        r, s = members[values.index(best)]  # list.index: the first maximum
        dx[n, c, r, s] += dy[n, c, i, j]
    return y, dx


def oracle_avg(x, dy, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    ones = (1, 1)
    shape = oracle_shape(x, kernel, stride, padding, ones, ceil_mode)
    y = np.zeros(shape, dtype=x.dtype)
    dx = np.zeros(x.shape, dtype=x.dtype)
    for n, c, i, j, members, padded_count in oracle_windows(x, kernel, stride, padding, ones, ceil_mode):
        if divisor_override is not None:
            divisor = divisor_override
        else:
            divisor = padded_count if count_include_pad else len(members)
        y[n, c, i, j] = sum(x[n, c, r, s] for r, s in members) / divisor
        for r, s in members:
            dx[n, c, r, s] += dy[n, c, i, j] / divisor
    return y, dx


def per_axis(value, nd):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd


def run_oracle(kind, x, dy, kwargs):
    nd = x.ndim - 2
    kernel = per_axis(kwargs["kernel"], nd)
    stride = per_axis(kwargs.get("stride") or kernel, nd)
    padding = per_axis(kwargs.get("padding", 0), nd)
    dilation = per_axis(kwargs.get("dilation", 1), nd)
    if nd == 1:
        x, dy = x[:, :, None, :], dy[:, :, None, :]
        kernel, stride, padding, dilation = (1,) + kernel, (1,) + stride, (0,) + padding, (1,) + dilation
    ceil_mode = kwargs.get("ceil_mode", False)
    if kind == "max":
        y, dx = oracle_max(x, dy, kernel, stride, padding, dilation, ceil_mode)
    else:
        y, dx = oracle_avg(
            x, dy, kernel, stride, padding, ceil_mode,
            kwargs.get("count_include_pad", True), kwargs.get("divisor_override"),
        )
    if nd == 1:
        y, dx = y[:, :, 0], dx[:, :, 0]
    return y, dx


# --------------------------------------------------------------------------
# Data helpers and the configurations shared by the oracle and torch tests.
# --------------------------------------------------------------------------


def make(shape, kind, rng):
    if kind == "fraction":
        nums = rng.integers(-9, 10, size=shape)
        dens = rng.integers(1, 8, size=shape)
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            out[idx] = Fraction(int(nums[idx]), int(dens[idx]))
        return out
    return rng.standard_normal(shape)


def assert_same(actual, expected, kind):
    assert actual.shape == expected.shape
    if kind == "fraction":
        assert actual.dtype == object
        assert all(isinstance(v, (Fraction, int)) for v in actual.flat), "exactness lost"
        assert (actual == expected).all()
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def forward_backward(kind):
    if kind == "max":
        return max_pool_forward, max_pool_backward
    return avg_pool_forward, avg_pool_backward


AVG_ONLY = ("count_include_pad", "divisor_override")

# id: (which poolings, x shape, kwargs). N, C > 1 throughout.
CONFIGS = {
    "2x2-s2": ("max avg", (2, 3, 6, 8), dict(kernel=2)),
    "3x3-s1-overlap": ("max avg", (2, 2, 7, 6), dict(kernel=3, stride=1)),
    "3x3-s2-p1": ("max avg", (2, 3, 9, 8), dict(kernel=3, stride=2, padding=1)),
    "3x3-s1-p1-d2": ("max", (2, 2, 9, 10), dict(kernel=3, stride=1, padding=1, dilation=2)),
    "rect-k23-s12-p11-d31": ("max", (2, 2, 9, 9), dict(kernel=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(3, 1))),
    "ceil-H5-k2-s2": ("max avg", (2, 2, 5, 5), dict(kernel=2, stride=2, ceil_mode=True)),
    "ceil-p1-last-dropped": ("max avg", (2, 2, 5, 6), dict(kernel=2, stride=2, padding=1, ceil_mode=True)),
    "ceil-k3-s2-p1-overhang": ("max avg", (2, 2, 6, 7), dict(kernel=3, stride=2, padding=1, ceil_mode=True)),
    "ceil-window-wider-than-input": ("max avg", (2, 2, 5, 4), dict(kernel=(6, 4), stride=2, ceil_mode=True)),
    "avg-exclude-pad-p1": ("avg", (2, 3, 7, 6), dict(kernel=3, stride=2, padding=1, count_include_pad=False)),
    "avg-exclude-pad-ceil": ("avg", (2, 2, 6, 7), dict(kernel=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    "avg-divisor-override": ("avg", (2, 2, 6, 7), dict(kernel=3, stride=2, padding=1, ceil_mode=True, divisor_override=5)),
    "avg-negative-override": ("avg", (2, 2, 5, 5), dict(kernel=2, stride=1, divisor_override=-3)),
    "rect-k32-s21-p10": ("max avg", (2, 3, 8, 7), dict(kernel=(3, 2), stride=(2, 1), padding=(1, 0))),
    "rect-per-axis-ceil": ("max avg", (2, 2, 7, 8), dict(kernel=(2, 3), stride=(3, 2), padding=(1, 1), ceil_mode=True)),
    "1d-k3-s2-p1": ("max avg", (2, 3, 11), dict(kernel=3, stride=2, padding=1)),
    "1d-k2-s1": ("max avg", (3, 2, 7), dict(kernel=2, stride=1)),
    "1d-ceil-p1": ("max avg", (2, 2, 8), dict(kernel=3, stride=2, padding=1, ceil_mode=True)),
    "1d-d3-p1": ("max", (2, 2, 10), dict(kernel=2, stride=1, padding=1, dilation=3)),
    "1d-exclude-pad-ceil": ("avg", (2, 2, 9), dict(kernel=4, stride=3, padding=2, ceil_mode=True, count_include_pad=False)),
    "1d-divisor-override": ("avg", (2, 2, 9), dict(kernel=3, stride=2, padding=1, divisor_override=2)),
}

CASES = [
    pytest.param(kind, cfg, id=f"{kind}-{cfg}")
    for cfg, (kinds, _, _) in CONFIGS.items()
    for kind in kinds.split()
]


@pytest.mark.parametrize("dtype", ["fraction", "float64"])
@pytest.mark.parametrize("kind, cfg", CASES)
def test_matches_loop_oracle(kind, cfg, dtype):
    _, shape, kwargs = CONFIGS[cfg]
    forward, backward = forward_backward(kind)
    rng = np.random.default_rng(zlib.crc32(f"{kind}/{cfg}/{dtype}".encode()))
    x = make(shape, dtype, rng)
    y = forward(x, **kwargs)
    dy = make(y.shape, dtype, rng)
    want_y, want_dx = run_oracle(kind, x, dy, kwargs)
    assert_same(y, want_y, dtype)
    assert_same(backward(dy, x, **kwargs), want_dx, dtype)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_fraction_results_stay_exact(kind):
    # Python ints in an object array: an average must still be a Fraction.
    x = np.array([[[1, 2, 4, 7]]], dtype=object)
    forward, backward = forward_backward(kind)
    y = forward(x, 3, stride=1)
    dx = backward(np.array([[[1, 1]]], dtype=object), x, 3, stride=1)
    if kind == "avg":
        assert list(y.flat) == [Fraction(7, 3), Fraction(13, 3)]
        assert all(type(v) is Fraction for v in y.flat)
        assert list(dx.flat) == [Fraction(1, 3), Fraction(2, 3), Fraction(2, 3), Fraction(1, 3)]
    else:
        assert list(y.flat) == [4, 7]
        assert list(dx.flat) == [0, 0, 1, 1]


def test_max_ties_go_to_first_maximum():
    # 2x2 windows at stride 1 over a constant image: every window picks its
    # top-left element, so the last row and column get nothing.
    x = np.full((1, 1, 3, 3), Fraction(1, 2), dtype=object)
    dx = max_pool_backward(np.ones((1, 1, 2, 2), dtype=object), x, 2, stride=1)
    assert dx[0, 0].tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]


def test_window_of_padding_only_is_minus_inf_with_no_gradient():
    # K=2, D=3, P=1 over L=2: the window reads positions -1 and 2, both padding.
    x = np.array([[[5.0, 6.0]]])
    assert max_pool_forward(x, 2, stride=2, padding=1, dilation=3).tolist() == [[[float("-inf")]]]
    assert max_pool_backward(np.ones((1, 1, 1)), x, 2, stride=2, padding=1, dilation=3).tolist() == [[[0.0, 0.0]]]


# --------------------------------------------------------------------------
# PyTorch (optional): forward and autograd in float64.
# --------------------------------------------------------------------------


def torch_pool(torch, kind, xt, kwargs):
    """Call torch's pooling with our keyword arguments."""
    tf = torch.nn.functional
    kw = dict(kwargs)
    kernel = kw.pop("kernel")
    one_d = xt.ndim == 3
    if kind == "max":
        fn = tf.max_pool1d if one_d else tf.max_pool2d
        return fn(xt, kernel, **kw)
    if one_d and kw.get("divisor_override") is not None:
        # avg_pool1d has no divisor_override: pool a unit-height image instead.
        lift = lambda v: (1, v) if isinstance(v, int) else (1,) + tuple(v)  # noqa: E731
        for name in ("stride", "padding"):
            if kw.get(name) is not None:
                kw[name] = (0, kw[name]) if name == "padding" else lift(kw[name])
        return tf.avg_pool2d(xt[:, :, None], lift(kernel), **kw)[:, :, 0]
    fn = tf.avg_pool1d if one_d else tf.avg_pool2d
    return fn(xt, kernel, **kw)


def torch_forward_backward(kind, x, dy, kwargs):
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_pool(torch, kind, xt, kwargs)
    (yt * torch.tensor(dy)).sum().backward()
    return yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("kind, cfg", CASES)
def test_matches_torch(kind, cfg):
    pytest.importorskip("torch")
    _, shape, kwargs = CONFIGS[cfg]
    forward, backward = forward_backward(kind)
    rng = np.random.default_rng(zlib.crc32(f"torch/{kind}/{cfg}".encode()))
    x = rng.standard_normal(shape)
    y = forward(x, **kwargs)
    dy = rng.standard_normal(y.shape)
    dx = backward(dy, x, **kwargs)
    y_t, dx_t = torch_forward_backward(kind, x, dy, kwargs)
    np.testing.assert_allclose(y, y_t, rtol=1e-12, atol=1e-12, err_msg="y")
    np.testing.assert_allclose(dx, dx_t, rtol=1e-12, atol=1e-12, err_msg="dx")


def plane_powers_of_two(shape):
    """dy with 2**k at the k-th position of every (n, c) plane: each input's
    gradient is then a sum of distinct powers of two, which says exactly which
    windows routed to it, and float addition of them is exact in any order."""
    per_plane = math.prod(shape[2:])
    assert per_plane <= 52
    return np.broadcast_to(2.0 ** np.arange(per_plane).reshape(shape[2:]), shape).copy()


TIE_CASES = {
    "2d-k3-s1-p1": ((2, 2, 5, 6), dict(kernel=3, stride=1, padding=1)),
    "2d-k2-s1": ((2, 2, 5, 5), dict(kernel=2, stride=1)),
    "2d-k3-s2-p1-d2-ceil": ((2, 2, 8, 7), dict(kernel=3, stride=2, padding=1, dilation=2, ceil_mode=True)),
    "2d-k23-s1": ((2, 2, 5, 6), dict(kernel=(2, 3), stride=1, padding=(1, 0))),
    "1d-k3-s1-p1": ((2, 3, 9), dict(kernel=3, stride=1, padding=1)),
    "1d-k4-s2-d2-ceil": ((2, 2, 11), dict(kernel=4, stride=2, padding=2, dilation=2, ceil_mode=True)),
}


@pytest.mark.parametrize("values", ["constant", "zero-one", "zero-one-two", "minus-inf"])
@pytest.mark.parametrize("shape, kwargs", TIE_CASES.values(), ids=list(TIE_CASES))
def test_max_ties_match_torch_exactly(shape, kwargs, values):
    pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(f"ties/{values}/{shape}".encode()))
    if values == "constant":
        x = np.full(shape, 0.25)
    elif values == "minus-inf":  # -inf inputs must still beat the padding
        x = np.where(rng.integers(0, 4, size=shape) == 0, 1.0, float("-inf"))
    else:
        x = rng.integers(0, 2 if values == "zero-one" else 3, size=shape).astype(float)
    y = max_pool_forward(x, **kwargs)
    dy = plane_powers_of_two(y.shape)
    y_t, dx_t = torch_forward_backward("max", x, dy, kwargs)
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(max_pool_backward(dy, x, **kwargs), dx_t)


def test_window_of_padding_only_matches_torch_forward():
    torch = pytest.importorskip("torch")
    x = np.array([[[5.0, 6.0]], [[1.0, 2.0]]])
    y_t = torch.nn.functional.max_pool1d(torch.tensor(x), 2, 2, 1, 3).numpy()
    np.testing.assert_array_equal(max_pool_forward(x, 2, stride=2, padding=1, dilation=3), y_t)


# --------------------------------------------------------------------------
# Bad input: a one-line ValueError that names the offending parameter. The
# geometry errors are also errors in PyTorch (checked when it is installed).
# --------------------------------------------------------------------------

X = np.zeros((1, 2, 5, 5))

BAD = {
    "padding-over-half-kernel": ("padding", "max avg", dict(kernel=3, padding=2), True),
    "padding-over-half-even-kernel": ("padding", "max avg", dict(kernel=2, padding=(0, 2)), True),
    "padding-over-half-kernel-k1": ("padding", "max avg", dict(kernel=1, padding=1), True),
    # Half the *dilated* kernel would allow it, but torch checks K // 2 too.
    "padding-over-half-undilated-kernel": ("padding", "max", dict(kernel=3, padding=2, dilation=2), True),
    "kernel-larger-than-padded-input": ("kernel", "max avg", dict(kernel=(4, 8), padding=1), True),
    "dilated-kernel-too-large": ("kernel", "max", dict(kernel=3, dilation=3), True),
    "ceil-kernel-too-large": ("kernel", "max avg", dict(kernel=8, stride=3, ceil_mode=True), True),
    "zero-stride": ("stride", "max avg", dict(kernel=2, stride=0), True),
    "zero-kernel": ("kernel", "max avg", dict(kernel=0), True),
    "negative-padding": ("padding", "max avg", dict(kernel=2, padding=-1), True),
    "zero-dilation": ("dilation", "max", dict(kernel=2, dilation=0), True),
    "kernel-length": ("kernel", "max avg", dict(kernel=(2, 2, 2)), True),
    "stride-length": ("stride", "max avg", dict(kernel=2, stride=(1,)), False),
    "padding-length": ("padding", "max avg", dict(kernel=2, padding=(1, 1, 1)), True),
    "dilation-length": ("dilation", "max", dict(kernel=2, dilation=(1, 1, 1)), True),
    "padding-pair": ("padding", "max avg", dict(kernel=2, padding=((0, 1), (0, 1))), False),
    "padding-string": ("padding", "max avg", dict(kernel=3, padding="same"), False),
    "bool-stride": ("stride", "max avg", dict(kernel=2, stride=True), False),
    "float-kernel": ("kernel", "max avg", dict(kernel=2.0), False),
    "ceil-mode-not-bool": ("ceil_mode", "max avg", dict(kernel=2, ceil_mode=1), False),
    "count-include-pad-not-bool": ("count_include_pad", "avg", dict(kernel=2, count_include_pad=None), False),
    "zero-divisor-override": ("divisor_override", "avg", dict(kernel=2, divisor_override=0), True),
    "float-divisor-override": ("divisor_override", "avg", dict(kernel=2, divisor_override=2.5), True),
    "x-ndim": ("x", "max avg", dict(kernel=2, x=np.zeros((1, 2, 3, 4, 5, 6))), False),
    "dy-shape": ("dy", "max avg", dict(kernel=2, dy=np.zeros((1, 2, 3, 3))), False),
}

BAD_CASES = [
    pytest.param(param, kind, overrides, id=f"{kind}-{name}")
    for name, (param, kinds, overrides, _) in BAD.items()
    for kind in kinds.split()
]


@pytest.mark.parametrize("param, kind, overrides", BAD_CASES)
def test_bad_input_names_parameter(param, kind, overrides):
    kw = dict(overrides)
    x, dy = kw.pop("x", X), kw.pop("dy", None)
    forward, backward = forward_backward(kind)
    with pytest.raises(ValueError, match=rf"^{param}\b") as info:
        if dy is None:
            forward(x, **kw)
        else:
            backward(dy, x, **kw)
    assert "\n" not in str(info.value)
    if dy is None:  # the backward validates the same way
        with pytest.raises(ValueError, match=rf"^{param}\b"):
            backward(np.zeros((1, 2, 1, 1)), x, **kw)


TORCH_BAD = [
    pytest.param(kind, overrides, id=f"{kind}-{name}")
    for name, (_, kinds, overrides, torch_rejects) in BAD.items()
    if torch_rejects
    for kind in kinds.split()
]


@pytest.mark.parametrize("kind, overrides", TORCH_BAD)
def test_torch_rejects_the_same_geometry(kind, overrides):
    torch = pytest.importorskip("torch")
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        torch_pool(torch, kind, torch.tensor(X), overrides)


def test_boundary_geometry_is_accepted():
    # P = K // 2 is allowed for every kernel, odd or even.
    for kernel in (1, 2, 3, 4, 5):
        for kind in ("max", "avg"):
            assert forward_backward(kind)[0](X, kernel, stride=1, padding=kernel // 2).shape[:2] == (1, 2)


# --------------------------------------------------------------------------
# Large float inputs are pooled in parts of a few channels each, which threads
# take in turn (symconv.reference.windows.by_channel).
# The tests above are too small for either, so here the thresholds are
# lowered until every chunk holds one or two channels, and the results must
# be identical, bit for bit, to one call on the whole array: ties, ceil-mode
# windows and overlaps included, with the channels cut between samples
# (N > 1) and within one sample (N = 1).
# --------------------------------------------------------------------------

THREAD_CASES = {
    "max-k3s2p1-ceil": ("max", (3, 5, 7, 6), dict(kernel=3, stride=2, padding=1, ceil_mode=True)),
    "max-k3s2p1-even": ("max", (2, 5, 8, 6), dict(kernel=3, stride=2, padding=1)),
    "max-k2-d2-1d": ("max", (1, 7, 11), dict(kernel=2, stride=1, dilation=2)),
    "avg-k3s2p1": ("avg", (2, 3, 7, 7), dict(kernel=3, stride=2, padding=1)),
    "avg-k3s2p1-even": ("avg", (2, 5, 8, 6), dict(kernel=3, stride=2, padding=1)),
    "avg-no-pad-count": ("avg", (1, 5, 6, 5), dict(kernel=(3, 2), stride=1, padding=1, count_include_pad=False)),
}


@pytest.mark.parametrize("values", ["random", "ties"])
@pytest.mark.parametrize("kind, xs, kwargs", THREAD_CASES.values(), ids=list(THREAD_CASES))
def test_pooling_results_do_not_depend_on_threads(kind, xs, kwargs, values, monkeypatch):
    from symconv.reference import avgpool as reference_avgpool
    from symconv.reference import maxpool as reference_pool
    from symconv.reference import threads, windows

    rng = np.random.default_rng(zlib.crc32(f"threads/{xs}/{values}".encode()))
    x = rng.standard_normal(xs) if values == "random" else rng.integers(0, 2, size=xs).astype(float)
    forward, backward = forward_backward(kind)
    monkeypatch.setattr(windows, "CHUNK_BYTES", 2**40)  # the whole array in one call
    y = forward(x, **kwargs)
    dy = rng.standard_normal(y.shape)
    dx = backward(dy, x, **kwargs)
    calls = []
    real = windows.by_channel

    def counted(pool, *arrays, **options):
        calls.append(arrays[0].shape)
        return real(pool, *arrays, **options)

    module = reference_pool if kind == "max" else reference_avgpool
    monkeypatch.setattr(windows, "PARALLEL_ELEMENTS", 0)
    monkeypatch.setattr(windows, "CHUNK_BYTES", 2 * x[0, 0].nbytes)  # chunks of 1 or 2 channels
    monkeypatch.setattr(module, "by_channel", counted)
    monkeypatch.setattr(threads, "cores", lambda: 3)  # three threads taking the parts in turn
    threaded_y = forward(x, **kwargs)
    threaded_dx = backward(dy, x, **kwargs)
    assert len(calls) == 2
    assert threaded_y.dtype == y.dtype and threaded_dx.dtype == dx.dtype
    np.testing.assert_array_equal(threaded_y, y)
    np.testing.assert_array_equal(threaded_dx, dx)
