"""Tests for symconv.reference.conv: a loop oracle, finite differences and PyTorch."""

from __future__ import annotations

import itertools
import warnings
import zlib
from fractions import Fraction

import numpy as np
import pytest

from symconv import reference
from symconv.reference import conv as reference_conv
from symconv.reference import threads as reference_threads
from symconv.reference import conv_backward, conv_forward


# --------------------------------------------------------------------------
# Oracle: the textbook loops, written without any of the tricks under test.
# It works on 2-D data only and takes fully normalised arguments; 1-D cases
# are lifted to 2-D with a unit height, which cannot change the arithmetic.
# --------------------------------------------------------------------------


def _out_size(size, lo, hi, k, s, d):
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _loops(x, w, stride, pads, dilation, groups):
    """Yield (n, f, i, j, c_in, c_w, p, q, r, s) for every in-range product."""
    n_batch, _, height, width = x.shape
    filters, cg, kh, kw = w.shape
    (sh, sw), ((ph, ph_hi), (pw, pw_hi)), (dh, dw) = stride, pads, dilation
    oh = _out_size(height, ph, ph_hi, kh, sh, dh)
    ow = _out_size(width, pw, pw_hi, kw, sw, dw)
    fg = filters // groups
    for n in range(n_batch):
        for f in range(filters):
            for i in range(oh):
                for j in range(ow):
                    for c in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                r = i * sh - ph + p * dh
                                s = j * sw - pw + q * dw
                                if 0 <= r < height and 0 <= s < width:
                                    yield n, f, i, j, (f // fg) * cg + c, c, p, q, r, s


def naive_forward(x, w, b, stride, pads, dilation, groups):
    (sh, sw), ((ph, ph_hi), (pw, pw_hi)), (dh, dw) = stride, pads, dilation
    oh = _out_size(x.shape[2], ph, ph_hi, w.shape[2], sh, dh)
    ow = _out_size(x.shape[3], pw, pw_hi, w.shape[3], sw, dw)
    y = np.zeros((x.shape[0], w.shape[0], oh, ow), dtype=x.dtype)
    if b is not None:
        for f in range(w.shape[0]):
            y[:, f] = b[f]
    for n, f, i, j, ci, c, p, q, r, s in _loops(x, w, stride, pads, dilation, groups):
        y[n, f, i, j] += x[n, ci, r, s] * w[f, c, p, q]
    return y


def naive_backward(dy, x, w, stride, pads, dilation, groups):
    dx = np.zeros(x.shape, dtype=x.dtype)
    dw = np.zeros(w.shape, dtype=x.dtype)
    db = np.zeros(w.shape[0], dtype=x.dtype)
    for n, f, i, j, ci, c, p, q, r, s in _loops(x, w, stride, pads, dilation, groups):
        dx[n, ci, r, s] += dy[n, f, i, j] * w[f, c, p, q]
        dw[f, c, p, q] += dy[n, f, i, j] * x[n, ci, r, s]
    for n, f, i, j in itertools.product(*map(range, dy.shape)):
        db[f] += dy[n, f, i, j]
    return dx, dw, db


def _lift(a):
    return a[:, :, None, :]


def naive(kind, *args, stride, pads, dilation, groups, one_d):
    if one_d:
        args = [a if a is None or a.ndim == 1 else _lift(a) for a in args]
        stride, pads, dilation = (1,) + stride, ((0, 0),) + pads, (1,) + dilation
    fn = naive_forward if kind == "forward" else naive_backward
    out = fn(*args, stride, pads, dilation, groups)
    if not one_d:
        return out
    if kind == "forward":
        return out[:, :, 0]
    dx, dw, db = out
    return dx[:, :, 0], dw[:, :, 0], db


# --------------------------------------------------------------------------
# Shared data helpers.
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


# Each case: x shape, w shape, kwargs for the reference, and the same
# geometry normalised for the oracle (stride, pads, dilation per axis).
ORACLE_CASES = {
    "2d-plain": ((2, 3, 5, 6), (4, 3, 3, 2), {}, ((1, 1), ((0, 0), (0, 0)), (1, 1))),
    "2d-s23-asym-pad": (
        (2, 2, 6, 7), (3, 2, 2, 3),
        dict(stride=(2, 3), padding=((0, 1), (1, 1))),
        ((2, 3), ((0, 1), (1, 1)), (1, 1)),
    ),
    "2d-d2-p2-g2": (
        (1, 4, 5, 5), (6, 2, 3, 2),
        dict(padding=2, dilation=2, groups=2),
        ((1, 1), ((2, 2), (2, 2)), (2, 2)),
    ),
    "2d-depthwise-same-even-k": (
        (2, 3, 4, 5), (6, 1, 2, 3),
        dict(padding="same", groups=3),
        ((1, 1), ((0, 1), (1, 1)), (1, 1)),
    ),
    "2d-unreached-rows": (
        (1, 2, 7, 8), (2, 2, 2, 3),
        dict(stride=(3, 2), padding=(0, 1), bias=False),
        ((3, 2), ((0, 0), (1, 1)), (1, 1)),
    ),
    "2d-F<=C-g2-asym-d12": (
        (2, 4, 5, 6), (2, 2, 3, 2),
        dict(padding=((1, 0), (2, 1)), dilation=(1, 2), groups=2),
        ((1, 1), ((1, 0), (2, 1)), (1, 2)),
    ),
    "2d-pad-wider-than-kernel": (
        (1, 2, 3, 4), (3, 2, 2, 1),
        dict(padding=((2, 1), (0, 2))),
        ((1, 1), ((2, 1), (0, 2)), (1, 1)),
    ),
    "1d-s2-p1-d2": ((2, 3, 9), (2, 3, 3), dict(stride=2, padding=1, dilation=2), ((2,), ((1, 1),), (2,))),
    "1d-g2-same-k4": ((2, 4, 6), (4, 2, 4), dict(padding="same", groups=2), ((1,), ((1, 2),), (1,))),
    "1d-valid-unreached": ((1, 2, 10), (3, 2, 2), dict(stride=3, padding="valid"), ((3,), ((0, 0),), (1,))),
}


@pytest.mark.parametrize("kind", ["fraction", "float64"])
@pytest.mark.parametrize("case", list(ORACLE_CASES), ids=list(ORACLE_CASES))
def test_matches_loop_oracle(case, kind):
    xs, ws, kwargs, (stride, pads, dilation) = ORACLE_CASES[case]
    kwargs = dict(kwargs)
    use_bias = kwargs.pop("bias", True)
    rng = np.random.default_rng(zlib.crc32(f"{case}/{kind}".encode()))
    x, w = make(xs, kind, rng), make(ws, kind, rng)
    b = make((ws[0],), kind, rng) if use_bias else None
    geo = dict(stride=stride, pads=pads, dilation=dilation, groups=kwargs.get("groups", 1), one_d=len(xs) == 3)

    y = conv_forward(x, w, b, **kwargs)
    assert_same(y, naive("forward", x, w, b, **geo), kind)

    dy = make(y.shape, kind, rng)
    got = conv_backward(dy, x, w, **kwargs)
    want = naive("backward", dy, x, w, **geo)
    for name, a, e in zip(("dx", "dw", "db"), got, want):
        try:
            assert_same(a, e, kind)
        except AssertionError as err:
            raise AssertionError(f"{name} differs from the oracle") from err


def test_unreached_input_rows_get_zero_gradient():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 1, 7, 1)), rng.standard_normal((1, 1, 2, 1))
    dx, _, _ = conv_backward(np.ones((1, 1, 2, 1)), x, w, stride=3)
    assert dx.shape == x.shape
    assert np.all(dx[0, 0, [2, 5, 6], 0] == 0)
    assert np.all(dx[0, 0, [0, 1, 3, 4], 0] != 0)


@pytest.mark.parametrize(
    "forms",
    [
        (1, (1, 1), [1, 1], ((1, 1), (1, 1)), [(1, 1), [1, 1]], (np.int64(1), 1)),
        ("valid", 0, (0, 0), ((0, 0), (0, 0))),
        ("same", ((1, 1), (0, 1))),
    ],
    ids=["one", "zero", "same"],
)
def test_padding_spellings_agree(forms):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2))
    ys = [conv_forward(x, w, padding=p) for p in forms]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])


# --------------------------------------------------------------------------
# Finite differences (float64) on the loss L = sum(dy * y).
# --------------------------------------------------------------------------


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


def numeric_grad(f, a, h=1e-6):
    grad = np.zeros_like(a)
    for idx in np.ndindex(*a.shape):
        keep = a[idx]
        a[idx] = keep + h
        plus = f()
        a[idx] = keep - h
        minus = f()
        a[idx] = keep
        grad[idx] = (plus - minus) / (2 * h)
    return grad


@pytest.mark.parametrize(
    "xs, ws, kwargs",
    [
        ((2, 3, 5, 5), (2, 3, 3, 3), dict(padding=1)),
        ((1, 4, 7, 6), (4, 2, 2, 3), dict(stride=(3, 2), dilation=(1, 2), groups=2, padding=((1, 0), (0, 2)))),
        ((2, 2, 8), (3, 2, 3), dict(stride=2, dilation=2, padding="valid")),
    ],
    ids=["2d-p1", "2d-s32-d12-g2-asym", "1d-s2-d2"],
)
def test_finite_differences(xs, ws, kwargs):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    dy = rng.standard_normal(conv_forward(x, w, b, **kwargs).shape)

    def loss():
        return float(np.sum(dy * conv_forward(x, w, b, **kwargs)))

    dx, dw, db = conv_backward(dy, x, w, **kwargs)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-7
    assert rel_error(dw, numeric_grad(loss, w)) < 1e-7
    assert rel_error(db, numeric_grad(loss, b)) < 1e-7


# --------------------------------------------------------------------------
# PyTorch (optional): forward and autograd in float64.
# --------------------------------------------------------------------------


def _torch_cases():
    shapes_2d = [  # (N, C, H, W), (F, C/G, KH, KW), groups
        ((2, 4, 7, 9), (6, 2, 3, 2), 2),
        ((2, 3, 8, 7), (4, 3, 2, 3), 1),
        ((3, 3, 7, 8), (6, 1, 3, 3), 3),  # depthwise with F = 2C
        ((2, 6, 7, 8), (4, 3, 3, 3), 2),  # F < C: dx takes the stride-1 shortcut
    ]
    cases = []
    for i, (s, p, d) in enumerate(itertools.product([1, 2, 3], [0, 1, 2], [1, 2])):
        xs, ws, g = shapes_2d[i % len(shapes_2d)]
        cases.append(pytest.param(xs, ws, dict(stride=s, padding=p, dilation=d, groups=g), id=f"2d-s{s}-p{p}-d{d}-g{g}"))
    for xs, ws, g in shapes_2d:
        for d in (1, 2):
            kw = dict(padding="same", dilation=d, groups=g)
            cases.append(pytest.param(xs, ws, kw, id=f"2d-same-d{d}-g{g}-k{ws[2]}x{ws[3]}"))
        cases.append(pytest.param(xs, ws, dict(padding="valid", stride=2, groups=g), id=f"2d-valid-s2-g{g}"))
    cases += [
        pytest.param((2, 3, 7, 5), (2, 3, 2, 2), dict(stride=3), id="2d-H7-K2-S3"),
        pytest.param((2, 2, 6, 7), (4, 2, 3, 2), dict(stride=(2, 3), padding=((0, 1), (2, 1))), id="2d-pairs-s23"),
        pytest.param((1, 4, 5, 6), (4, 1, 2, 3), dict(padding=((1, 0), (0, 2)), dilation=(2, 1), groups=4), id="2d-pairs-dw"),
        pytest.param((2, 4, 6, 5), (2, 2, 3, 3), dict(padding=(2, 0), stride=(1, 2), groups=2), id="2d-pad-tuple"),
        pytest.param((2, 3, 11), (4, 3, 3), dict(stride=2, padding=2, dilation=2), id="1d-s2-p2-d2"),
        pytest.param((2, 4, 10), (8, 1, 4), dict(padding="same", groups=4), id="1d-same-depthwise-k4"),
        pytest.param((1, 2, 7), (2, 2, 2), dict(stride=3, padding="valid"), id="1d-L7-K2-S3"),
        pytest.param((2, 4, 9), (2, 2, 3), dict(padding=((2, 0),), groups=2, stride=(2,)), id="1d-pair-g2"),
    ]
    return cases


@pytest.mark.parametrize("xs, ws, kwargs", _torch_cases())
def test_matches_torch(xs, ws, kwargs):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])

    y = conv_forward(x, w, b, **kwargs)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv_backward(dy, x, w, **kwargs)

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tkw = dict(kwargs)
    padding = tkw.pop("padding", 0)
    inp = xt
    if isinstance(padding, tuple) and isinstance(padding[0], tuple):
        # F.pad lists (before, after) from the last axis backwards.
        inp = tf.pad(xt, [v for pair in reversed(padding) for v in pair])
        padding = 0
    conv = tf.conv1d if len(xs) == 3 else tf.conv2d
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's note on even 'same' kernels
        yt = conv(inp, wt, bt, padding=padding, **tkw)
    (yt * torch.tensor(dy)).sum().backward()

    for name, mine, theirs in [("y", y, yt), ("dx", dx, xt.grad), ("dw", dw, wt.grad), ("db", db, bt.grad)]:
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-11, atol=1e-11, err_msg=name)


# --------------------------------------------------------------------------
# Bad input: a one-line ValueError that names the offending parameter.
# --------------------------------------------------------------------------

X2, W2 = np.zeros((1, 4, 5, 5)), np.zeros((2, 4, 3, 3))

BAD = {
    "negative-padding": ("padding", dict(padding=-1)),
    "negative-pair": ("padding", dict(padding=((0, -1), (0, 0)))),
    "same-with-stride": ("padding", dict(padding="same", stride=2)),
    "unknown-string": ("padding", dict(padding="full")),
    "padding-length": ("padding", dict(padding=(1, 1, 1))),
    "padding-triple": ("padding", dict(padding=((1, 2, 3), (0, 0)))),
    "padding-float": ("padding", dict(padding=1.5)),
    "zero-stride": ("stride", dict(stride=0)),
    "stride-length": ("stride", dict(stride=(1, 2, 3))),
    "bool-stride": ("stride", dict(stride=True)),
    "zero-dilation": ("dilation", dict(dilation=0)),
    "dilation-length": ("dilation", dict(dilation=(1,))),
    "zero-groups": ("groups", dict(groups=0)),
    "groups-not-dividing-C": ("groups", dict(groups=3, w=np.zeros((3, 1, 3, 3)))),
    "groups-not-dividing-F": ("groups", dict(groups=2, w=np.zeros((3, 2, 3, 3)))),
    "channel-mismatch": ("w", dict(w=np.zeros((2, 3, 3, 3)))),
    "w-ndim": ("w", dict(w=np.zeros((2, 4, 3)))),
    "x-ndim": ("x", dict(x=np.zeros((1, 4, 5, 5, 5, 5)))),
    "kernel-too-big": ("x", dict(w=np.zeros((2, 4, 6, 3)))),
    "bias-shape": ("b", dict(b=np.zeros(3))),
    "dy-shape": ("dy", dict(dy=np.zeros((1, 2, 4, 4)))),
}


@pytest.mark.parametrize("param, overrides", BAD.values(), ids=list(BAD))
def test_bad_input_names_parameter(param, overrides):
    kw = {"x": X2, "w": W2, **overrides}
    x, w, b, dy = kw.pop("x"), kw.pop("w"), kw.pop("b", None), kw.pop("dy", None)
    if dy is None:
        call = lambda: conv_forward(x, w, b, **kw)  # noqa: E731
    else:
        call = lambda: conv_backward(dy, x, w, **kw)  # noqa: E731
    with pytest.raises(ValueError, match=rf"^{param}\b") as info:
        call()
    assert "\n" not in str(info.value)
    if param == "padding" and "stride" in overrides:
        assert "stride" in str(info.value)


# --------------------------------------------------------------------------
# conv_forward and conv_backward build their im2col columns a few samples at a
# time into one reused buffer (reference_conv._CHUNK_BYTES). The other tests are too
# small to need a second chunk, so here every sample gets its own, and the
# results must not move.
# --------------------------------------------------------------------------

CHUNK_CASES = {
    "col2im-s2": ((3, 4, 7, 6), (6, 2, 3, 2), dict(stride=2, padding=1, groups=2)),
    "shortcut-F<=C": ((3, 6, 6, 5), (4, 6, 3, 3), dict(padding=1)),
    "1d-d2": ((4, 3, 9), (5, 3, 3), dict(dilation=2, padding=2)),
}


@pytest.mark.parametrize("dtype", ["fraction", "float64"])
@pytest.mark.parametrize("xs, ws, kwargs", CHUNK_CASES.values(), ids=list(CHUNK_CASES))
def test_conv_results_do_not_depend_on_chunking(xs, ws, kwargs, dtype, monkeypatch):
    rng = np.random.default_rng(zlib.crc32(f"chunks/{xs}/{dtype}".encode()))
    x, w = make(xs, dtype, rng), make(ws, dtype, rng)
    y = conv_forward(x, w, **kwargs)
    dy = make(y.shape, dtype, rng)
    whole = (y,) + conv_backward(dy, x, w, **kwargs)
    monkeypatch.setattr(reference_conv, "_CHUNK_BYTES", 1)
    chunked = (conv_forward(x, w, **kwargs),) + conv_backward(dy, x, w, **kwargs)
    for a, e in zip(chunked, whole):
        assert_same(a, e, dtype)


@pytest.mark.parametrize("xs, ws, kwargs", CHUNK_CASES.values(), ids=list(CHUNK_CASES))
def test_conv_results_do_not_depend_on_threads(xs, ws, kwargs, monkeypatch):
    # Large float batches are cut into parts that threads take in turn
    # (reference_conv._sample_parts); here every batch is, into three uneven
    # parts. y and dx are per-sample and must not move at all; dw adds the
    # parts' partial sums in another order.
    rng = np.random.default_rng(zlib.crc32(f"threads/{xs}".encode()))
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = conv_forward(x, w, **kwargs)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv_backward(dy, x, w, **kwargs)
    parts = []
    real = reference_conv._sample_parts
    monkeypatch.setattr(reference_conv, "_PARALLEL_MACS", 0)
    monkeypatch.setattr(reference_threads, "cores", lambda: 3)
    monkeypatch.setattr(reference_threads, "UNITS_PER_CORE", 1)
    monkeypatch.setattr(reference_conv, "_sample_parts", lambda *a: parts.append(real(*a)) or parts[-1])
    threaded_y = conv_forward(x, w, **kwargs)
    threaded_dx, threaded_dw, threaded_db = conv_backward(dy, x, w, **kwargs)
    assert all(len(p) == 3 and threaded for p, threaded in parts) and len(parts) >= 2
    np.testing.assert_array_equal(threaded_y, y)
    np.testing.assert_array_equal(threaded_dx, dx)
    np.testing.assert_allclose(threaded_dw, dw, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(threaded_db, db)


def test_blas_held_to_one_thread_while_parts_run():
    from symconv.reference import threads as reference_threads

    controls = reference_threads._openblas_threads()
    if controls is None:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS whose thread count can be set")
    get, _ = controls
    before = get()
    seen = reference_threads.run_parts(lambda part: get(), reference_threads.split(4, 2))
    assert seen == [1, 1]
    assert get() == before
