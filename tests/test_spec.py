"""Tests for symconv.spec.conv: parsing, validation, normalization, size estimate."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import pytest
import sympy

from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.spec.conv import ConvSpec, conv_spec
from symconv.spec.size import DEFAULT_MAX_TERMS, check_size
from symconv.spec.values import MAX_INTEGER, parse_ints, read_ints
from symconv.spec.activation import activation_spec
from symconv.spec.pool import pool_spec
from symconv.spec.counting import floor_sum, window_counts


def torch_out(size, kernel, stride, pad_total, dilation):
    """PyTorch's rule: floor((H + 2P - D(K-1) - 1)/S) + 1, with 2P the total padding."""
    return math.floor((size + pad_total - dilation * (kernel - 1) - 1) / stride) + 1


# --------------------------------------------------------------------------
# parse_ints
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("1,3,32,32", (1, 3, 32, 32), id="shape"),
        pytest.param("7", (7,), id="single"),
        pytest.param(" 1, 3 ,32 ", (1, 3, 32), id="spaces"),
        pytest.param("0", (0,), id="zero-parsed-refused-later"),
        pytest.param("-1,2", (-1, 2), id="negative-parsed-refused-later"),
        pytest.param("007", (7,), id="leading-zeros"),
    ],
)
def test_parse_ints_reads_integers(text, expected):
    assert parse_ints(text, "input", "N,C,H,W") == expected




@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1,a,4,4", id="letter"),
        pytest.param("1,,4,4", id="empty-axis"),
        pytest.param("1.5,1,4,4", id="float"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(",", id="comma-only"),
        pytest.param("1,", id="trailing-comma"),
        pytest.param("+1", id="plus-sign"),
        pytest.param("-", id="minus-only"),
        pytest.param("1 2", id="space-separated"),
        pytest.param("0x10", id="hex"),
        pytest.param("1e3", id="exponent"),
        pytest.param("1_000", id="underscore"),
        pytest.param("__import__('os')", id="code"),
        pytest.param("--1", id="double-minus"),
        pytest.param("²", id="superscript-two"),
    ],
)
def test_parse_ints_refuses_non_integers(text):
    with pytest.raises(SymconvError) as raised:
        parse_ints(text, "stride", "S,S")
    message = str(raised.value)
    assert message.startswith("stride: ")
    assert repr(text) in message
    assert "S,S" in message
    assert "\n" not in message


@pytest.mark.parametrize("text, expected", [
    pytest.param("2147483647", (MAX_INTEGER,), id="the-bound"),
    pytest.param("-2147483647", (-MAX_INTEGER,), id="minus-the-bound"),
    pytest.param("0000000000000002", (2,), id="many-leading-zeros"),
])
def test_parse_ints_reads_up_to_the_bound(text, expected):
    assert parse_ints(text, "stride", "S") == expected


@pytest.mark.parametrize("text", [
    pytest.param("2147483648", id="bound-plus-1"),
    pytest.param("-2147483648", id="minus-bound-minus-1"),
    pytest.param("1,99999999999999999999", id="twenty-digits"),
    pytest.param("9" * 5000, id="5000-digits-over-pythons-str-limit"),
])
def test_parse_ints_refuses_integers_over_the_bound(text):
    with pytest.raises(SymconvError) as raised:
        parse_ints(text, "stride", "S,S")
    message = str(raised.value)
    assert message.startswith("stride: got '")
    assert message.endswith("expected integers of at most 2147483647 (2**31 - 1)")
    assert len(message) < 200


def test_read_ints_says_the_whole_expectation():
    with pytest.raises(SymconvError) as raised:
        read_ints("1.5", "stride", "an integer or 2 comma-separated integers (one per axis H,W)")
    assert str(raised.value) == "stride: got '1.5', expected an integer or 2 comma-separated integers (one per axis H,W)"


def test_symconv_error_is_a_value_error():
    assert issubclass(SymconvError, ValueError)


# --------------------------------------------------------------------------
# conv_spec: good input, normalized
# --------------------------------------------------------------------------

# (kind, input, weight, kwargs, stride, padding pairs, dilation, padding_string)
GOOD = [
    pytest.param("conv1d", (1, 1, 4), (1, 1, 2), {}, (1,), ((0, 0),), (1,), None, id="conv1d-defaults"),
    pytest.param("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), {}, (1, 1), ((0, 0), (0, 0)), (1, 1), None,
                 id="conv2d-defaults"),
    pytest.param("conv2d", (1, 3, 8, 8), (4, 3, 3, 3), dict(stride=(2, 1), padding=1), (2, 1),
                 ((1, 1), (1, 1)), (1, 1), None, id="stride-per-axis"),
    pytest.param("conv2d", (1, 3, 8, 8), (4, 3, 3, 3), dict(stride=[2, 3]), (2, 3), ((0, 0), (0, 0)), (1, 1),
                 None, id="stride-list"),
    pytest.param("conv2d", (1, 1, 6, 6), (1, 1, 3, 3), dict(padding=(1, 0)), (1, 1), ((1, 1), (0, 0)), (1, 1),
                 None, id="padding-per-axis"),
    pytest.param("conv2d", (1, 1, 6, 6), (1, 1, 3, 3), dict(padding=((0, 1), (2, 0))), (1, 1),
                 ((0, 1), (2, 0)), (1, 1), None, id="padding-pairs"),
    pytest.param("conv2d", (1, 1, 6, 6), (1, 1, 3, 3), dict(padding="valid"), (1, 1), ((0, 0), (0, 0)), (1, 1),
                 "valid", id="padding-valid"),
    pytest.param("conv2d", (1, 1, 6, 6), (1, 1, 3, 4), dict(padding="same"), (1, 1), ((1, 1), (1, 2)), (1, 1),
                 "same", id="padding-same"),
    pytest.param("conv2d", (1, 1, 6, 6), (1, 1, 3, 4), dict(padding=" Same "), (1, 1), ((1, 1), (1, 2)), (1, 1),
                 "same", id="padding-same-spaced-mixed-case"),
    pytest.param("conv2d", (1, 1, 7, 7), (1, 1, 3, 3), dict(dilation=(2, 3)), (1, 1), ((0, 0), (0, 0)), (2, 3),
                 None, id="dilation-per-axis"),
    pytest.param("conv2d", (2, 4, 5, 5), (6, 2, 3, 3), dict(groups=2), (1, 1), ((0, 0), (0, 0)), (1, 1), None,
                 id="groups-2"),
    pytest.param("conv1d", (1, 4, 9), (4, 1, 3), dict(groups=4, stride=2, padding="valid", dilation=2), (2,),
                 ((0, 0),), (2,), "valid", id="conv1d-depthwise"),
    pytest.param("conv2d", (1, 1, 4, 4), (1, 1, 4, 4), {}, (1, 1), ((0, 0), (0, 0)), (1, 1), None,
                 id="kernel-equals-input"),
    pytest.param("conv2d", (1, 1, 1, 1), (1, 1, 3, 3), dict(padding=1), (1, 1), ((1, 1), (1, 1)), (1, 1), None,
                 id="kernel-fits-only-with-padding"),
]


@pytest.mark.parametrize("kind, input, weight, kwargs, stride, padding, dilation, mode", GOOD)
def test_conv_spec_normalizes(kind, input, weight, kwargs, stride, padding, dilation, mode):
    spec = conv_spec(kind, input, weight, **kwargs)
    assert isinstance(spec, ConvSpec)
    assert spec.kind == kind
    assert spec.ndim == len(input) - 2
    assert spec.input == tuple(input) and spec.weight == tuple(weight)
    assert spec.stride == stride
    assert spec.padding == padding
    assert spec.dilation == dilation
    assert spec.padding_string == mode
    assert spec.padding_mode == "zeros"
    assert spec.groups == kwargs.get("groups", 1)
    spatial = tuple(
        torch_out(h, k, s, lo + hi, d)
        for h, k, s, (lo, hi), d in zip(input[2:], weight[2:], stride, padding, dilation)
    )
    assert spec.output_shape == (input[0], weight[0]) + spatial
    assert spec.bias_shape == (weight[0],)


def test_conv_spec_accepts_lists_and_gives_tuples():
    spec = conv_spec("conv2d", [1, 1, 4, 4], [1, 1, 2, 2], stride=[1, 2], padding=[1, 0], dilation=[1, 1])
    assert spec.input == (1, 1, 4, 4) and spec.weight == (1, 1, 2, 2)
    assert spec.stride == (1, 2) and spec.padding == ((1, 1), (0, 0))
    hash(spec)


def test_conv_spec_without_bias():
    spec = conv_spec("conv2d", (1, 1, 4, 4), (3, 1, 2, 2), bias=False)
    assert spec.bias is False
    assert spec.bias_shape is None
    assert spec.to_dict()["bias"] is False


def test_to_dict_is_the_normalized_spec_as_json():
    spec = conv_spec("conv2d", (1, 2, 7, 8), (4, 1, 3, 2), stride=(2, 3), padding=(1, 2), dilation=(2, 1),
                     groups=2)
    data = json.loads(json.dumps(spec.to_dict()))
    assert data == {
        "kind": "conv2d",
        "input": [1, 2, 7, 8],
        "weight": [4, 1, 3, 2],
        "bias": True,
        "stride": [2, 3],
        "padding": [[1, 1], [2, 2]],
        "padding_string": None,
        "padding_mode": "zeros",
        "dilation": [2, 1],
        "groups": 2,
        "output": list(spec.output_shape),
    }


# --------------------------------------------------------------------------
# conv_spec: bad input, one SymconvError naming the parameter
# --------------------------------------------------------------------------


I4, W2 = (1, 1, 4, 4), (1, 1, 2, 2)

# (kind, input, weight, kwargs, parameter word, value shown)
BAD = [
    pytest.param("conv4d", (1, 1, 4, 4, 4, 4), (1, 1, 2, 2, 2, 2), {}, "layer", "conv4d", id="layer-conv4d"),
    pytest.param("Conv2d", I4, W2, {}, "layer", "Conv2d", id="layer-capitalized"),
    pytest.param("conv2d", (1, 1, 4), W2, {}, "input", "1,1,4", id="conv2d-input-3-sizes"),
    pytest.param("conv1d", (1, 1, 4, 4), (1, 1, 2), {}, "input", "1,1,4,4", id="conv1d-input-4-sizes"),
    pytest.param("conv1d", (1, 1, 4), (1, 1, 2, 2), {}, "weight", "1,1,2,2", id="conv1d-weight-4-sizes"),
    pytest.param("conv2d", (1, 1, 0, 4), W2, {}, "input", "1,1,0,4", id="input-zero-axis"),
    pytest.param("conv2d", (0, 1, 4, 4), W2, {}, "input", "0,1,4,4", id="input-zero-batch"),
    pytest.param("conv2d", (-1, 1, 4, 4), W2, {}, "input", "-1,1,4,4", id="input-negative"),
    pytest.param("conv2d", (1.5, 1, 4, 4), W2, {}, "input", "1.5,1,4,4", id="input-float"),
    pytest.param("conv2d", I4, (1, 1, 0, 2), {}, "weight", "1,1,0,2", id="weight-zero-axis"),
    pytest.param("conv2d", I4, (1, 1, 5, 2), {}, "weight", "5", id="kernel-larger-than-input"),
    pytest.param("conv2d", I4, W2, dict(dilation=4), "weight", "dilation 4", id="dilated-kernel-too-large"),
    pytest.param("conv2d", I4, W2, dict(stride=0), "stride", "0", id="stride-0"),
    pytest.param("conv2d", I4, W2, dict(stride=-1), "stride", "-1", id="stride-negative"),
    pytest.param("conv2d", I4, W2, dict(stride=(1, 0)), "stride", "1,0", id="stride-per-axis-0"),
    pytest.param("conv2d", I4, W2, dict(stride=(1, 2, 3)), "stride", "1,2,3", id="stride-3-values"),
    pytest.param("conv1d", (1, 1, 4), (1, 1, 2), dict(stride=(1, 2)), "stride", "1,2", id="conv1d-stride-2-values"),
    pytest.param("conv2d", I4, W2, dict(stride="2"), "stride", "2", id="stride-string"),
    pytest.param("conv2d", I4, W2, dict(dilation=0), "dilation", "0", id="dilation-0"),
    pytest.param("conv2d", I4, W2, dict(dilation=-2), "dilation", "-2", id="dilation-negative"),
    pytest.param("conv2d", I4, W2, dict(dilation=(1, 2, 3)), "dilation", "1,2,3", id="dilation-3-values"),
    pytest.param("conv2d", I4, W2, dict(padding=-1), "padding", "-1", id="padding-negative"),
    pytest.param("conv2d", I4, W2, dict(padding=(1, -1)), "padding", "1,-1", id="padding-per-axis-negative"),
    pytest.param("conv2d", I4, W2, dict(padding=((0, -1), (0, 0))), "padding", "-1", id="padding-pair-negative"),
    pytest.param("conv2d", I4, W2, dict(padding=(1, 2, 3)), "padding", "1,2,3", id="padding-3-values"),
    pytest.param("conv2d", I4, W2, dict(padding=((1, 2, 3), (0, 0))), "padding", "1,2,3", id="padding-triple"),
    pytest.param("conv2d", I4, W2, dict(padding="full"), "padding", "full", id="padding-unknown-word"),
    pytest.param("conv2d", I4, W2, dict(padding="same", stride=2), "padding", "same", id="same-with-stride-2"),
    pytest.param("conv2d", I4, W2, dict(padding="same", stride=(1, 2)), "padding", "same",
                 id="same-with-stride-1,2"),
    pytest.param("conv2d", (1, 3, 4, 4), (4, 1, 2, 2), dict(groups=2), "groups", "2", id="groups-not-dividing-C"),
    pytest.param("conv2d", (1, 4, 4, 4), (3, 2, 2, 2), dict(groups=2), "groups", "2", id="groups-not-dividing-F"),
    pytest.param("conv2d", I4, W2, dict(groups=0), "groups", "0", id="groups-0"),
    pytest.param("conv2d", I4, W2, dict(groups=-1), "groups", "-1", id="groups-negative"),
    pytest.param("conv2d", I4, W2, dict(groups=1.5), "groups", "1.5", id="groups-float"),
    pytest.param("conv2d", (1, 2, 4, 4), W2, {}, "weight", "1,1,2,2", id="channel-mismatch"),
    pytest.param("conv2d", (1, 4, 4, 4), (2, 1, 2, 2), dict(groups=2), "weight", "2,1,2,2",
                 id="channel-mismatch-grouped"),
    pytest.param("conv2d", I4, W2, dict(stride=1.5), "stride", "1.5", id="stride-float"),
    pytest.param("conv2d", I4, W2, dict(stride=None), "stride", "None", id="stride-none"),
    pytest.param("conv2d", I4, W2, dict(dilation=2.0), "dilation", "2.0", id="dilation-float"),
    pytest.param("conv2d", I4, W2, dict(padding=1.5), "padding", "1.5", id="padding-float"),
    pytest.param("conv2d", I4, W2, dict(padding=None), "padding", "None", id="padding-none"),
    pytest.param("conv2d", I4, W2, dict(padding=(1.5, 0)), "padding", "1.5", id="padding-per-axis-float"),
    # beyond MAX_INTEGER: refused before any arithmetic can overflow
    pytest.param("conv2d", (1, 1, 4, 2**31), W2, {}, "input", "2147483648", id="input-axis-over-bound"),
    pytest.param("conv2d", (10**20, 1, 4, 4), W2, {}, "input", str(10**20), id="batch-huge"),
    pytest.param("conv2d", I4, (10**20, 1, 2, 2), {}, "weight", str(10**20), id="filters-huge"),
    pytest.param("conv2d", I4, (1, 1, 2**31, 2), {}, "weight", "2147483648", id="kernel-over-bound"),
    pytest.param("conv2d", I4, W2, dict(stride=10**20), "stride", str(10**20), id="stride-huge"),
    pytest.param("conv2d", I4, W2, dict(stride=(1, 2**31)), "stride", "1,2147483648", id="stride-per-axis-over-bound"),
    pytest.param("conv2d", I4, W2, dict(padding=10**20), "padding", str(10**20), id="padding-huge"),
    pytest.param("conv2d", I4, W2, dict(padding=((0, 2**31), (0, 0))), "padding", "2147483648",
                 id="padding-pair-over-bound"),
    pytest.param("conv2d", I4, W2, dict(dilation=10**20), "dilation", str(10**20), id="dilation-huge"),
    pytest.param("conv2d", I4, W2, dict(groups=10**20), "groups", str(10**20), id="groups-huge"),
]


@pytest.mark.parametrize("kind, input, weight, kwargs, word, value", BAD)
def test_conv_spec_refuses(kind, input, weight, kwargs, word, value):
    with pytest.raises(SymconvError) as raised:
        conv_spec(kind, input, weight, **kwargs)
    message = str(raised.value)
    assert message.split(":")[0] == word, message
    assert value in message, message
    assert "expected" in message
    assert "\n" not in message


# --------------------------------------------------------------------------
# output_shape against PyTorch's formula on a grid
# --------------------------------------------------------------------------


def test_values_up_to_the_bound_are_accepted_and_sized_at_once():
    spec = conv_spec("conv1d", (1, 1, MAX_INTEGER), (1, 1, MAX_INTEGER // 2), stride=MAX_INTEGER,
                     padding=MAX_INTEGER, dilation=2)
    assert spec.output_shape == (1, 1, torch_out(MAX_INTEGER, MAX_INTEGER // 2, MAX_INTEGER, 2 * MAX_INTEGER, 2))
    assert spec.estimate_terms() > DEFAULT_MAX_TERMS  # a closed form: no loop over 10**9 taps
    with pytest.raises(SymconvError, match="^max-terms: "):
        check_size(spec)


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: conv_spec("conv2d", I4, W2, stride=(1, 2, 3)),
                 "stride: got '1,2,3', expected an integer or 2 comma-separated integers (one per axis H,W)",
                 id="conv2d-stride-3-values"),
    pytest.param(lambda: conv_spec("conv1d", (1, 1, 4), (1, 1, 2), dilation=(1, 2)),
                 "dilation: got '1,2', expected an integer", id="conv1d-dilation-2-values"),
    pytest.param(lambda: conv_spec("conv2d", I4, W2, stride=0),
                 "stride: got '0', expected positive integers", id="stride-0"),
    pytest.param(lambda: conv_spec("conv2d", I4, W2, padding=-1),
                 "padding: got '-1', expected non-negative integers", id="padding-negative"),
    pytest.param(lambda: conv_spec("conv2d", I4, W2, padding="full"),
                 "padding: got 'full', expected an integer, 2 comma-separated integers (one per axis H,W), "
                 "'same' or 'valid'", id="padding-word"),
    pytest.param(lambda: conv_spec("conv1d", (1, 1, 4), (1, 1, 2), padding=(1, 2)),
                 "padding: got '1,2', expected an integer, one [before, after] pair per axis, 'same' or 'valid'",
                 id="conv1d-padding-2-values"),
    pytest.param(lambda: conv_spec("conv2d", I4, W2, padding=((1, 2, 3), (0, 0))),
                 "padding: got '[1,2,3],[0,0]', expected per axis an integer or a [before, after] pair of integers",
                 id="padding-triple"),
    pytest.param(lambda: conv_spec("conv2d", I4, (1, 1, 5, 2)),
                 "weight: got '1,1,5,2', whose extent 5 on axis H (dilation 1 x (K-1) + 1) is larger than the "
                 "padded input 4; expected a kernel that fits", id="conv-kernel-too-large-H"),
    pytest.param(lambda: conv_spec("conv1d", (1, 1, 4), (1, 1, 3), dilation=2),
                 "weight: got '1,1,3', whose extent 5 on axis L (dilation 2 x (K-1) + 1) is larger than the "
                 "padded input 4; expected a kernel that fits", id="conv-kernel-too-large-L"),
    pytest.param(lambda: pool_spec("maxpool2d", I4, kernel=(2, 5)),
                 "kernel: got '2,5', whose extent 5 on axis W (dilation 1 x (K-1) + 1) is larger than the "
                 "padded input 4; expected a kernel that fits", id="pool-kernel-too-large-W"),
    pytest.param(lambda: pool_spec("maxpool1d", (1, 1, 4), kernel=3, dilation=2),
                 "kernel: got '3', whose extent 5 on axis L (dilation 2 x (K-1) + 1) is larger than the "
                 "padded input 4; expected a kernel that fits", id="pool-kernel-too-large-L"),
    pytest.param(lambda: pool_spec("maxpool2d", I4, kernel=2, padding=(1, 2, 3)),
                 "padding: got '1,2,3', expected an integer or 2 comma-separated integers (one per axis H,W)",
                 id="pool-padding-3-values"),
    pytest.param(lambda: pool_spec("maxpool2d", I4, kernel=2, padding=((1, 1), (0, 0))),
                 "padding: got '[1,1],[0,0]', expected one integer per axis, not [before, after] pairs "
                 "(pooling pads both sides of an axis alike)", id="pool-padding-pairs"),
    pytest.param(lambda: pool_spec("maxpool1d", (1, 1, 1), kernel=2, stride=1, padding=1, dilation=2),
                 "dilation: got '2' with padding '1', whose window 0 on axis L reads only padding; expected every "
                 "window to reach the input", id="pool-window-of-padding-only"),
    pytest.param(lambda: pool_spec("avgpool2d", I4, kernel=2, divisor_override=2**31),
                 "divisor-override: got 2147483648, expected a positive integer", id="divisor-over-bound"),
    pytest.param(lambda: activation_spec("leaky_relu", (1, 1, 4), "1e400"),
                 "negative-slope: got '1e400', expected a number a float64 can hold (below 1.8e308 in size), "
                 "as PyTorch's negative_slope is one", id="slope-beyond-float64"),
    pytest.param(lambda: activation_spec("leaky_relu", (1, 1, 4), "1e999999999"),
                 "negative-slope: got '1e999999999', expected a number such as 0.01, 1e-2 (an exponent of at "
                 "most three digits) or 1/100", id="slope-exponent-too-long"),
    pytest.param(lambda: activation_spec("relu", (1, 1, 2**31)),
                 "input: got '1,1,2147483648', expected integers of at most 2147483647 (2**31 - 1)",
                 id="activation-input-over-bound"),
], )
def test_messages_read_well(call, message):
    with pytest.raises(SymconvError) as raised:
        call()
    assert str(raised.value) == message


def _grid_1d():
    """(size, kernel, stride, padding, dilation) for every small combination."""
    return itertools.product(range(1, 8), range(1, 5), range(1, 4), range(0, 3), range(1, 4))


def test_output_shape_conv1d_matches_pytorch_formula_on_a_grid():
    checked = refused = 0
    for h, k, s, p, d in _grid_1d():
        fits = d * (k - 1) + 1 <= h + 2 * p
        if not fits:
            with pytest.raises(SymconvError, match="^weight: "):
                conv_spec("conv1d", (1, 1, h), (1, 1, k), stride=s, padding=p, dilation=d)
            refused += 1
            continue
        spec = conv_spec("conv1d", (2, 1, h), (3, 1, k), stride=s, padding=p, dilation=d)
        assert spec.output_shape == (2, 3, torch_out(h, k, s, 2 * p, d)), (h, k, s, p, d)
        assert spec.output_shape[2] >= 1
        checked += 1
    assert checked > 300 and refused > 50


def test_output_shape_conv2d_matches_pytorch_formula_on_a_grid():
    axes = [(5, 3, 2, 1, 1), (6, 2, 1, 0, 3), (4, 4, 3, 2, 1), (7, 3, 3, 0, 2), (1, 1, 1, 0, 1), (3, 2, 2, 2, 2)]
    for (h, kh, sh, ph, dh), (w, kw, sw, pw, dw) in itertools.product(axes, repeat=2):
        spec = conv_spec("conv2d", (1, 2, h, w), (4, 2, kh, kw), stride=(sh, sw), padding=(ph, pw),
                         dilation=(dh, dw))
        assert spec.output_shape == (1, 4, torch_out(h, kh, sh, 2 * ph, dh), torch_out(w, kw, sw, 2 * pw, dw))


def test_output_shape_with_asymmetric_padding_pairs():
    spec = conv_spec("conv2d", (1, 1, 5, 5), (1, 1, 3, 3), stride=2, padding=((0, 1), (2, 3)))
    assert spec.output_shape == (1, 1, torch_out(5, 3, 2, 1, 1), torch_out(5, 3, 2, 5, 1))


# --------------------------------------------------------------------------
# padding='same'
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kernel, dilation, pair",
    [
        pytest.param(1, 1, (0, 0), id="k1"),
        pytest.param(2, 1, (0, 1), id="k2-extra-after"),
        pytest.param(3, 1, (1, 1), id="k3"),
        pytest.param(4, 1, (1, 2), id="k4-extra-after"),
        pytest.param(5, 1, (2, 2), id="k5"),
        pytest.param(3, 2, (2, 2), id="k3-d2"),
        pytest.param(2, 3, (1, 2), id="k2-d3-extra-after"),
        pytest.param(4, 2, (3, 3), id="k4-d2"),
        pytest.param(1, 5, (0, 0), id="k1-d5"),
    ],
)
def test_same_padding_normalization(kernel, dilation, pair):
    spec1 = conv_spec("conv1d", (1, 1, 9), (1, 1, kernel), padding="same", dilation=dilation)
    assert spec1.padding == (pair,)
    assert spec1.output_shape[2] == 9
    spec2 = conv_spec("conv2d", (1, 1, 9, 8), (1, 1, kernel, 3), padding="same", dilation=(dilation, 1))
    assert spec2.padding == (pair, (1, 1))
    assert spec2.output_shape[2:] == (9, 8)
    assert spec2.padding_string == "same"


def test_same_keeps_every_size_on_a_grid():
    for h, k, d in itertools.product(range(1, 7), range(1, 5), range(1, 4)):
        spec = conv_spec("conv1d", (1, 1, h), (1, 1, k), padding="same", dilation=d)
        lo, hi = spec.padding[0]
        assert lo + hi == d * (k - 1)
        assert hi - lo in (0, 1)
        assert spec.output_shape[2] == h


def test_valid_is_zero_padding():
    valid = conv_spec("conv2d", (1, 1, 5, 5), (1, 1, 2, 3), padding="valid")
    zero = conv_spec("conv2d", (1, 1, 5, 5), (1, 1, 2, 3), padding=0)
    assert valid.padding == zero.padding == ((0, 0), (0, 0))
    assert valid.output_shape == zero.output_shape
    assert valid.padding_string == "valid" and zero.padding_string is None


# --------------------------------------------------------------------------
# ConvSpec is frozen and hashable
# --------------------------------------------------------------------------


def test_conv_spec_is_frozen():
    spec = conv_spec("conv2d", I4, W2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.stride = (2, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.groups = 2
    assert spec.stride == (1, 1)


def test_conv_spec_is_hashable_and_compares_by_value():
    a = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), stride=2, padding=1)
    b = conv_spec("conv2d", [1, 1, 4, 4], [1, 1, 2, 2], stride=(2, 2), padding=((1, 1), (1, 1)))
    c = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), stride=(2, 1), padding=1)
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert {a: "cached"}[b] == "cached"


# --------------------------------------------------------------------------
# estimate_terms against the terms a derivation really has
# --------------------------------------------------------------------------


def _count_terms(derivation) -> int:
    total = 0
    for table in (derivation.forward, *derivation.gradients.values()):
        for expr in table.values():
            if expr != 0:
                total += len(sympy.Add.make_args(expr))
    return total


ESTIMATE = [
    pytest.param("conv1d", (1, 1, 4), (1, 1, 2), {}, id="conv1d-basic"),
    pytest.param("conv1d", (2, 2, 7), (3, 2, 3), dict(stride=2, padding=1), id="conv1d-batch-stride-padding"),
    pytest.param("conv1d", (1, 4, 9), (2, 2, 3), dict(groups=2, dilation=2, padding="same"),
                 id="conv1d-groups-dilation-same"),
    pytest.param("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), {}, id="conv2d-seeds-example"),
    pytest.param("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), dict(bias=False), id="conv2d-no-bias"),
    pytest.param("conv2d", (1, 2, 5, 6), (2, 1, 3, 2), dict(groups=2, stride=(2, 1), padding=(1, 0),
                                                            dilation=(1, 2)), id="conv2d-everything"),
    pytest.param("conv2d", (2, 3, 5, 5), (2, 3, 3, 3), dict(stride=3, padding=2), id="conv2d-stride-3-padding-2"),
    pytest.param("conv2d", (1, 1, 5, 5), (1, 1, 4, 4), dict(padding="same"), id="conv2d-same-even-kernel"),
    pytest.param("conv2d", (1, 1, 3, 3), (1, 1, 3, 3), dict(padding=5, stride=4),
                 id="conv2d-outputs-entirely-in-padding"),
    pytest.param("conv2d", (1, 1, 3, 3), (1, 1, 3, 3), dict(padding=5, stride=4, bias=False),
                 id="conv2d-zero-outputs-no-bias"),
]


@pytest.mark.parametrize("kind, input, weight, kwargs", ESTIMATE)
def test_estimate_terms_equals_the_derivation(kind, input, weight, kwargs):
    spec = conv_spec(kind, input, weight, **kwargs)
    derivation = derive(spec)
    assert spec.estimate_terms() == _count_terms(derivation)


def test_check_size_refuses_above_the_limit_with_the_estimate():
    spec = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))
    estimate = spec.estimate_terms()
    assert check_size(spec, estimate) == estimate
    with pytest.raises(SymconvError) as raised:
        check_size(spec, estimate - 1)
    assert str(raised.value).startswith("max-terms: ")
    assert f"{estimate:,}" in str(raised.value)
    with pytest.raises(SymconvError, match="^max-terms: "):
        derive(spec, max_terms=estimate - 1)
    assert _count_terms(derive(spec, max_terms=estimate)) == estimate


def test_floor_sum_on_a_grid():
    for n, m, a, b in itertools.product(range(6), range(1, 5), range(-7, 8), range(-9, 10)):
        assert floor_sum(n, m, a, b) == sum((a * i + b) // m for i in range(n)), (n, m, a, b)


def test_window_counts_match_counting_one_by_one():
    checked = 0
    for size, k, s, d, lo, hi in itertools.product(range(1, 8), range(1, 6), range(1, 4), range(1, 4), range(4),
                                                   range(3)):
        reach = d * (k - 1) + 1
        if reach > size + lo + hi:
            continue
        out = (size + lo + hi - reach) // s + 1
        slow = sum(1 for o in range(out) for t in range(k) if 0 <= o * s - lo + t * d < size)
        assert window_counts(size, k, s, d, lo, out) == slow, (size, k, s, d, lo, hi)
        checked += 1
    assert checked > 2000


def test_pool_windows_of_padding_only_are_found_as_by_looking_at_each():
    # pool_spec checks only the windows that start in the left padding, and only
    # when the dilation outstrides the input: compare with every window's taps.
    for size, k, s, p, d, ceil in itertools.product(range(1, 7), range(1, 5), range(1, 4), range(3), range(1, 6),
                                                    (False, True)):
        if p > k // 2 or d * (k - 1) + 1 > size + 2 * p:
            continue
        span = size + 2 * p - d * (k - 1) - 1
        out = (-(-span // s) if ceil else span // s) + 1
        if ceil and (out - 1) * s >= size + p:
            out -= 1
        empty = any(all(not 0 <= o * s - p + t * d < size for t in range(k)) for o in range(out))
        if empty:
            with pytest.raises(SymconvError, match="^dilation: .* reads only padding"):
                pool_spec("maxpool1d", (1, 1, size), kernel=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        else:
            assert pool_spec("maxpool1d", (1, 1, size), kernel=k, stride=s, padding=p, dilation=d,
                             ceil_mode=ceil).output_shape == (1, 1, out)


@pytest.mark.parametrize("spec, entries", [
    pytest.param(conv_spec("conv2d", I4, W2), 9 + 16 + 4 + 1, id="conv-y-x-w-b"),
    pytest.param(conv_spec("conv2d", I4, W2, bias=False), 9 + 16 + 4, id="conv-no-bias"),
    pytest.param(pool_spec("maxpool2d", I4, kernel=2), 4 + 16, id="pool-y-x"),
    pytest.param(activation_spec("relu", (2, 1, 3)), 12, id="relu"),
])
def test_count_entries_is_one_per_element_of_every_table(spec, entries):
    assert spec.count_entries() == entries
    if isinstance(spec, ConvSpec):
        derivation = derive(spec)
        tables = (derivation.forward, *derivation.gradients.values())
        assert sum(len(table) for table in tables) == entries


def test_check_size_counts_entries_when_most_are_zero():
    # A stride as long as x: 1 product, but 9,000,000 entries of dx to write.
    spec = conv_spec("conv2d", (1, 1, 3000, 3000), (1, 1, 1, 1), stride=3000)
    assert spec.estimate_terms() == 5
    with pytest.raises(SymconvError) as raised:
        check_size(spec)
    assert str(raised.value) == (
        "max-terms: this layer needs 9,000,003 equations (one per element of every tensor and gradient), "
        "over the limit 2,000,000; expected a smaller layer or a larger --max-terms"
    )
    assert check_size(spec, 9_000_003) == 5


def test_default_limit_refuses_a_large_layer_without_building_it():
    spec = conv_spec("conv2d", (8, 64, 64, 64), (64, 64, 7, 7))
    assert spec.estimate_terms() > DEFAULT_MAX_TERMS
    with pytest.raises(SymconvError, match="^max-terms: "):
        derive(spec)


# --------------------------------------------------------------------------
# PyTorch itself, when installed
# --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's notice about 'same' with even kernels
def test_output_shape_and_same_padding_match_torch():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    generator = torch.Generator().manual_seed(0)

    # conv1d: every small combination; symconv refuses exactly what torch refuses
    for h, k, s, p, d in _grid_1d():
        x = torch.randn(2, 2, h, generator=generator, dtype=torch.float64)
        w = torch.randn(3, 2, k, generator=generator, dtype=torch.float64)
        try:
            expected = tuple(functional.conv1d(x, w, stride=s, padding=p, dilation=d).shape)
        except RuntimeError:
            expected = None
        if expected is None:
            with pytest.raises(SymconvError):
                conv_spec("conv1d", (2, 2, h), (3, 2, k), stride=s, padding=p, dilation=d)
        else:
            spec = conv_spec("conv1d", (2, 2, h), (3, 2, k), stride=s, padding=p, dilation=d)
            assert spec.output_shape == expected, (h, k, s, p, d)

        if s == 1 and p == 0:
            # 'same': shape and which side gets the extra zero, checked on values
            spec = conv_spec("conv1d", (2, 2, h), (3, 2, k), padding="same", dilation=d)
            same = functional.conv1d(x, w, padding="same", dilation=d)
            assert spec.output_shape == tuple(same.shape)
            (lo, hi), = spec.padding
            manual = functional.conv1d(functional.pad(x, (lo, hi)), w, dilation=d)
            assert torch.allclose(same, manual), (h, k, d, spec.padding)

    # conv2d: per-axis values, groups
    axes = [(5, 3, 2, 1, 1), (6, 2, 1, 0, 3), (4, 4, 3, 2, 1), (7, 3, 3, 0, 2), (3, 2, 2, 2, 2), (2, 3, 1, 0, 1)]
    for (h, kh, sh, ph, dh), (wd, kw, sw, pw, dw) in itertools.product(axes, repeat=2):
        x = torch.randn(1, 4, h, wd, generator=generator, dtype=torch.float64)
        w = torch.randn(6, 2, kh, kw, generator=generator, dtype=torch.float64)
        options = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=2)
        try:
            expected = tuple(functional.conv2d(x, w, **options).shape)
        except RuntimeError:
            expected = None
        if expected is None:
            with pytest.raises(SymconvError):
                conv_spec("conv2d", (1, 4, h, wd), (6, 2, kh, kw), **options)
        else:
            assert conv_spec("conv2d", (1, 4, h, wd), (6, 2, kh, kw), **options).output_shape == expected

        spec = conv_spec("conv2d", (1, 4, h, wd), (6, 2, kh, kw), padding="same", dilation=(dh, dw), groups=2)
        same = functional.conv2d(x, w, padding="same", dilation=(dh, dw), groups=2)
        assert spec.output_shape == tuple(same.shape)
        (top, bottom), (left, right) = spec.padding
        manual = functional.conv2d(functional.pad(x, (left, right, top, bottom)), w, dilation=(dh, dw), groups=2)
        assert torch.allclose(same, manual), (h, wd, kh, kw, dh, dw, spec.padding)


@pytest.mark.parametrize("size, kernel, stride, padding, dilation", [
    (size, kernel, stride, padding, dilation)
    for size in (3, 4, 7) for kernel in (1, 2, 3) for stride in (1, 2, 3) for padding in (0, 1)
    for dilation in (1, 2) if dilation * (kernel - 1) + 1 <= size + 2 * padding and padding <= kernel // 2
])
def test_the_spec_and_the_reference_agree_on_output_sizes(size, kernel, stride, padding, dilation):
    """The output size is computed twice, on purpose: in the spec and, independently, in the reference."""
    import numpy as np

    from symconv import reference
    from symconv.spec import conv_spec, pool_spec

    x = np.zeros((1, 1, size))
    conv = conv_spec("conv1d", x.shape, (1, 1, kernel), stride=stride, padding=padding, dilation=dilation)
    assert reference.conv_forward(x, np.zeros(conv.weight), None, stride, padding, dilation).shape == conv.output_shape
    for ceil_mode in (False, True):
        pool = pool_spec("maxpool1d", x.shape, kernel, stride, padding, dilation, ceil_mode)
        assert reference.max_pool_forward(x, kernel, stride, padding, dilation, ceil_mode).shape == pool.output_shape
