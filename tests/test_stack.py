"""Stacks of layers: the mini-syntax and JSON files, shape chaining, per-layer
names, seed 004's chain in LaTeX, and end-to-end gradients against PyTorch
autograd on the same composed network (float64)."""

from __future__ import annotations

import builtins
import functools
import json
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sympy import IndexedBase, Rational
from sympy.parsing.sympy_parser import parse_expr

from symconv.errors import SymconvError
from symconv.engine.evaluate import evaluate_table
from symconv.printing.formats import render
from symconv.spec.conv import ConvSpec
from symconv.spec.pool import PoolSpec
from symconv.engine.derive import derive_stack
from symconv.spec.stack import parse_layers, stack_spec
from symconv.verify.stack import verify_stack

# --------------------------------------------------------------------------
# The parser: good inputs.
# --------------------------------------------------------------------------

SEED_STACK = [("conv2d", {"weight": "4,3,3,3", "padding": "1"}), ("relu", {}), ("maxpool2d", {"kernel": "2"})]


@pytest.mark.parametrize("text, expected", [
    pytest.param("conv2d(weight=4,3,3,3, padding=1) | relu | maxpool2d(kernel=2)", SEED_STACK, id="issue-example"),
    pytest.param("  conv2d( weight = 4, 3 ,3,3 ,padding =1 )|relu|  maxpool2d ( kernel=2 )  ", SEED_STACK,
                 id="spaces-anywhere"),
    pytest.param("conv2d(weight=4,3,3,3,padding=1)|relu()|maxpool2d(kernel=2)", SEED_STACK,
                 id="no-spaces-empty-parens"),
    pytest.param("maxpool2d(kernel=2, ceil-mode=true)", [("maxpool2d", {"kernel": "2", "ceil_mode": "true"})],
                 id="dash-option-name"),
    pytest.param("maxpool2d(kernel=2, ceil_mode=true)", [("maxpool2d", {"kernel": "2", "ceil_mode": "true"})],
                 id="underscore-option-name"),
    pytest.param("conv2d(weight=2,1,3,3, bias=false)", [("conv2d", {"weight": "2,1,3,3", "bias": "false"})],
                 id="bias-false"),
    pytest.param("avgpool2d(kernel=3, count_include_pad=false, divisor-override=4)",
                 [("avgpool2d", {"kernel": "3", "count_include_pad": "false", "divisor_override": "4"})],
                 id="count-include-pad-false"),
    pytest.param("leaky_relu(negative_slope=1/100)", [("leaky_relu", {"negative_slope": "1/100"})], id="slope-1/100"),
    pytest.param("leaky_relu(negative-slope=0.01)", [("leaky_relu", {"negative_slope": "0.01"})], id="slope-0.01"),
    pytest.param("leaky_relu(negative_slope=-1/2)", [("leaky_relu", {"negative_slope": "-1/2"})], id="slope-negative"),
    pytest.param("maxpool2d(kernel=2,3, stride=1,2, padding=1,0, dilation=1,2)",
                 [("maxpool2d", {"kernel": "2,3", "stride": "1,2", "padding": "1,0", "dilation": "1,2"})],
                 id="per-axis-values"),
    pytest.param("conv2d(weight=2,1,3,3, padding=same)", [("conv2d", {"weight": "2,1,3,3", "padding": "same"})],
                 id="word-value"),
    pytest.param("relu", [("relu", {})], id="single-layer"),
])
def test_parse_layers_reads_good_stacks(text, expected):
    assert parse_layers(text) == expected


def test_flags_and_values_reach_the_layer_specs():
    layers = parse_layers(
        "conv2d(weight=2,1,3,3, padding=1, bias=false) | leaky_relu(negative_slope=1/100)"
        " | avgpool2d(kernel=2,3, stride=1,2, padding=1, count_include_pad=false, ceil_mode=true)"
        " | leaky_relu(negative_slope=0.25) | maxpool2d(kernel=2, ceil-mode=true) | leaky_relu(negative-slope=0.01)")
    conv, leaky, avg, leaky2, pool, leaky3 = stack_spec((1, 1, 6, 6), layers).layers
    assert isinstance(conv, ConvSpec) and conv.bias is False and conv.weight == (2, 1, 3, 3)
    assert leaky.negative_slope == leaky3.negative_slope == Fraction(1, 100)
    assert leaky2.negative_slope == Fraction(1, 4)
    assert isinstance(avg, PoolSpec) and avg.kernel == (2, 3) and avg.stride == (1, 2)
    assert avg.count_include_pad is False and avg.ceil_mode is True
    assert pool.ceil_mode is True and pool.stride == (2, 2)


def test_flags_default_off_and_explicit_true_false():
    conv, avg, pool = stack_spec((1, 1, 6, 6), parse_layers(
        "conv2d(weight=1,1,1,1, bias=true) | avgpool2d(kernel=2, count_include_pad=true) "
        "| maxpool2d(kernel=2, ceil_mode=false)")).layers
    assert conv.bias is True and avg.count_include_pad is True and pool.ceil_mode is False
    conv, avg = stack_spec((1, 1, 6, 6), parse_layers("conv2d(weight=1,1,1,1) | avgpool2d(kernel=2)")).layers
    assert conv.bias is True and avg.count_include_pad is True and avg.ceil_mode is False


@pytest.mark.parametrize("text, check", [
    pytest.param("conv2d(weight=1,1,2,2, no_bias=false)", lambda layer: layer.bias is True, id="no_bias=false"),
    pytest.param("avgpool2d(kernel=2, padding=1, no-count-include-pad=false)",
                 lambda layer: layer.count_include_pad is True, id="no-count-include-pad=false"),
    pytest.param("conv2d(weight=1,1,2,2, no-bias=banana)", None, id="no-bias=banana"),
])
def test_cli_flag_names_in_a_stack_mean_what_they_say(text, check):
    try:
        (layer,) = stack_spec((1, 1, 4, 4), parse_layers(text)).layers
    except SymconvError:
        return  # refusing is acceptable
    assert check is not None and check(layer)


def test_a_json_file_gives_the_same_stack_as_the_mini_syntax(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"layers": [
        {"kind": "conv2d", "weight": [3, 2, 3, 3], "padding": 1, "bias": False},
        {"kind": "leaky_relu", "negative_slope": 0.01},
        {"kind": "avgpool2d", "kernel": [2, 3], "stride": 1, "count_include_pad": False, "ceil_mode": True},
        {"kind": "maxpool2d", "kernel": 2, "dilation": [1, 2]},
    ]}))
    text = ("conv2d(weight=3,2,3,3, padding=1, bias=false) | leaky_relu(negative_slope=1/100) | "
            "avgpool2d(kernel=2,3, stride=1, count_include_pad=false, ceil_mode=true) | "
            "maxpool2d(kernel=2, dilation=1,2)")
    shape = (2, 2, 7, 7)
    assert stack_spec(shape, parse_layers(str(path))) == stack_spec(shape, parse_layers(text))
    listed = tmp_path / "list.json"  # a bare list of layers is accepted too
    listed.write_text(json.dumps([{"kind": "relu"}, {"kind": "maxpool2d", "kernel": 2}]))
    assert parse_layers(str(listed)) == [("relu", {}), ("maxpool2d", {"kernel": "2"})]


@pytest.mark.parametrize("content", [
    pytest.param("{not json", id="invalid-json"),
    pytest.param(json.dumps({"layers": [{"weight": [1, 1, 2, 2]}]}), id="no-kind"),
    pytest.param(json.dumps({"layers": "relu"}), id="layers-not-a-list"),
    pytest.param(json.dumps({"layers": [{"kind": "softmax"}]}), id="unknown-kind"),
])
def test_bad_json_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SymconvError, match=r"^layers: "):
        stack_spec((1, 1, 4, 4), parse_layers(str(path)))


def test_a_missing_json_file_is_refused(tmp_path):
    with pytest.raises(SymconvError, match=r"^layers: got '.*missing\.json', expected a readable JSON file"):
        parse_layers(str(tmp_path / "missing.json"))


@pytest.mark.parametrize("content, reason", [
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "(nested too deeply)", id="nested-too-deeply"),
    pytest.param(b'{"layers": [{"kind": "maxpool2d", "kernel": ' + b"9" * 5000 + b"}]}",
                 "(Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits)",
                 id="integer-of-5000-digits"),
    pytest.param(b'{"layers": [{"kind": "relu\xff"}]}', "can't decode byte 0xff", id="not-utf-8"),
    pytest.param(b"", "(Expecting value: line 1 column 1 (char 0))", id="empty-file"),
])
def test_json_files_python_cannot_read_are_refused_in_one_line(tmp_path, content, reason):
    # found by fuzzing the command line: each of these was a traceback (RecursionError, ValueError,
    # UnicodeDecodeError), as json.load raises more than JSONDecodeError
    path = tmp_path / "net.json"
    path.write_bytes(content)
    with pytest.raises(SymconvError) as caught:
        parse_layers(str(path))
    message = str(caught.value)
    assert message.startswith(f"layers: got {str(path)!r}, expected a readable JSON file in UTF-8 (")
    assert reason in message and "\n" not in message


def test_a_json_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "net.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"layers": [{"kind": "relu"}]}).encode())
    assert parse_layers(str(path)) == [("relu", {})]


@pytest.mark.parametrize("value", [[[1]], [1, 2], 1, 0.5, [], "yes"])
def test_json_flags_that_are_not_true_or_false_are_refused(tmp_path, value):
    # [[1]] reached value.lower() as a tuple: an AttributeError before
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"layers": [{"kind": "maxpool2d", "kernel": 2, "ceil_mode": value}]}))
    with pytest.raises(SymconvError, match=r"^layers: layer 1 \(maxpool2d\): ceil_mode: got .*, expected true or false$"):
        stack_spec((1, 1, 4, 4), parse_layers(str(path)))


_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.integers(), st.floats(),
                       st.sampled_from(["same", "valid", "1", "2,1", "true", "1/2", "", "x"]), st.text(max_size=4))
_JSON_OPTION = st.sampled_from(["weight", "kernel", "stride", "padding", "dilation", "groups", "bias", "no_bias",
                                "ceil_mode", "count_include_pad", "divisor_override", "negative_slope", "kind",
                                "input", "no-bias"])
_JSON_LAYER = st.builds(lambda kind, options: {"kind": kind, **options},
                        st.sampled_from(["conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d",
                                         "relu", "leaky_relu"]),
                        st.dictionaries(_JSON_OPTION, st.recursive(_JSON_LEAF, lambda c: st.lists(c, max_size=3),
                                                                   max_leaves=6), max_size=4))


@settings(derandomize=True, database=None, deadline=None, max_examples=300,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=st.lists(_JSON_LAYER, min_size=1, max_size=3),
       shape=st.sampled_from([(1, 1, 4, 4), (1, 1, 5), (1, 2, 4, 4)]))
def test_any_json_values_give_a_stack_or_one_line_refusal(tmp_path, layers, shape):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"layers": layers}))
    try:
        spec = stack_spec(shape, parse_layers(str(path)))
    except SymconvError as error:
        assert str(error).startswith("layers: ") and "\n" not in str(error)
    else:
        spec.estimate_terms(), spec.count_entries(), spec.to_dict()


# --------------------------------------------------------------------------
# The parser: bad inputs. Nothing is ever evaluated.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("text, fragment", [
    pytest.param("softmax", "'softmax'", id="unknown-layer"),
    pytest.param("relu | conv4d(weight=1,1,1,1,1,1)", "layer 2: got 'conv4d'", id="unknown-layer-second"),
    pytest.param("stack", "'stack'", id="stack-in-a-stack"),
    pytest.param("maxpool2d(kernel=2, kernel=3)", "kernel twice", id="option-twice"),
    pytest.param("maxpool2d(kernel=2, stride=1, stride=2)", "stride twice", id="option-twice-later"),
    pytest.param("maxpool2d(kernel=2, ceil_mode=true, ceil-mode=true)", "ceil_mode twice", id="option-twice-dash"),
    pytest.param("__import__('os')", "cannot read \"'os')\" at character 12", id="dunder-import"),
    pytest.param("eval(1)", "found '1' at character 6", id="eval-call"),
    pytest.param("relu; import os", "cannot read '; import os' at character 5", id="semicolon"),
    pytest.param("maxpool2d(kernel=__import__('os').getcwd())", "cannot read", id="import-as-value"),
    pytest.param("maxpool2d(kernel='2')", "cannot read \"'2')\" at character 18", id="single-quoted-value"),
    pytest.param('maxpool2d(kernel="2")', "cannot read", id="double-quoted-value"),
    pytest.param("maxpool2d(kernel=2, ceil_mode=yes)", "ceil_mode: got 'yes', expected true or false", id="flag-yes"),
    pytest.param("conv2d(weight=1,1,2,2, bias=0)", "bias: got '0', expected true or false", id="flag-digit"),
    pytest.param("relu(kernel=2)", "kernel: got '2'", id="option-the-layer-lacks"),
    pytest.param("leaky_relu(negative_slope=abc)", "negative-slope: got 'abc'", id="slope-word"),
    pytest.param("leaky_relu(negative_slope=1e-2000)", "negative-slope: got '1e-2000'", id="slope-long-exponent"),
    pytest.param("maxpool2d(kernel=2.5)", "kernel: got '2.5'", id="fractional-kernel"),
    pytest.param("maxpool2d(kernel=+2)", "kernel: got '+2'", id="plus-kernel"),
    pytest.param("x" * 5000, "'" + "x" * 10, id="long-garbage"),
])
def test_bad_stacks_are_refused_with_one_line(text, fragment, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the stack syntax must never be evaluated as code")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    with pytest.raises(SymconvError) as caught:
        stack_spec((1, 1, 4, 4), parse_layers(text))
    message = str(caught.value)
    assert message.startswith("layers: ") and "\n" not in message
    assert fragment in message


#: Malformed stacks: what the parser expected, and what it found where (characters count from 1).
MALFORMED = [
    pytest.param("conv2d(weight=2,1,3,3 | relu",
                 "expected ')' to close the '(' of conv2d at character 7, found '|' at character 23",
                 id="issue-unclosed-before-pipe"),
    pytest.param("maxpool2d(kernel=2", "expected ')' to close the '(' of maxpool2d at character 10, found the end",
                 id="unclosed-at-end"),
    pytest.param("relu(", "expected ')' to close the '(' of relu at character 5, found the end", id="unclosed-empty"),
    pytest.param("maxpool2d(kernel=2,", "expected ')' to close the '(' of maxpool2d at character 10, found the end",
                 id="unclosed-after-comma"),
    pytest.param("conv2d(weight=", "expected ')' to close the '(' of conv2d at character 7, found the end",
                 id="unclosed-after-equals"),
    pytest.param("relu | maxpool2d(kernel | relu",
                 "expected ')' to close the '(' of maxpool2d at character 17, found '|' at character 25",
                 id="unclosed-second-layer"),
    pytest.param("relu)", "expected every ')' to close a '(', found an unmatched ')' at character 5", id="stray-close"),
    pytest.param("maxpool2d(kernel=2))", "expected every ')' to close a '(', found an unmatched ')' at character 20",
                 id="extra-close"),
    pytest.param("relu | )", "expected every ')' to close a '(', found an unmatched ')' at character 8",
                 id="close-for-a-layer"),
    pytest.param(")", "expected every ')' to close a '(', found an unmatched ')' at character 1", id="close-alone"),
    pytest.param("maxpool2d((kernel=2)", "expected an option (name=value) or ')', found '(' at character 11",
                 id="double-open"),
    pytest.param("relu(kernel=(2))", "expected a value for kernel (a number or a word), found '(' at character 13",
                 id="nested-value"),
    pytest.param("relu()()", "expected '|' or the end after relu, found '(' at character 7", id="second-parens"),
    pytest.param("", "expected at least one layer, such as 'conv2d(weight=2,1,3,3) | relu'", id="empty"),
    pytest.param("   ", "expected at least one layer, such as 'conv2d(weight=2,1,3,3) | relu'", id="blank"),
    pytest.param("relu |", "expected a layer name after the '|' at character 6, found the end", id="trailing-pipe"),
    pytest.param("| relu", "expected a layer name, found '|' at character 1", id="leading-pipe"),
    pytest.param("relu || relu", "expected a layer name after the '|' at character 6, found '|' at character 7",
                 id="double-pipe"),
    pytest.param("relu relu", "expected '|' or the end after relu, found 'relu' at character 6", id="missing-pipe"),
    pytest.param("maxpool2d(kernel=2) relu",
                 "expected '|' or the end after maxpool2d(...), found 'relu' at character 21",
                 id="missing-pipe-after-options"),
    pytest.param("relu,relu", "expected '|' or the end after relu, found ',' at character 5",
                 id="comma-between-layers"),
    pytest.param("maxpool2d(kernel=)", "expected a value for kernel (a number or a word), found ')' at character 18",
                 id="missing-value"),
    pytest.param("maxpool2d(kernel 2)", "expected '=' after the option name kernel, found '2' at character 18",
                 id="missing-equals"),
    pytest.param("maxpool2d(kernel=2,)",
                 "expected an option (name=value) after the ',' at character 19, found ')' at character 20",
                 id="trailing-comma"),
    pytest.param("maxpool2d(kernel=2,,stride=1)",
                 "expected an option (name=value) after the ',' at character 19, found ',' at character 20",
                 id="double-comma"),
    pytest.param("maxpool2d(kernel=2 stride=1)",
                 "expected ',' or ')' after the value of kernel, found 'stride' at character 20", id="missing-comma"),
    pytest.param("conv2d(weight=1,1,2,2, =3)",
                 "expected an option (name=value) after the ',' at character 22, found '=' at character 24",
                 id="missing-option-name"),
]


@pytest.mark.parametrize("text, expected", MALFORMED)
def test_malformed_stacks_say_what_was_expected_where(text, expected):
    with pytest.raises(SymconvError) as caught:
        parse_layers(text)
    assert str(caught.value) == f"layers: got {text.strip()!r}, {expected}"


def test_character_positions_point_at_the_characters_named():
    text = "relu | conv2d(weight=1,1,2,2 | relu"
    with pytest.raises(SymconvError) as caught:
        parse_layers("   " + text + "  ")  # counted in the text shown, which is stripped
    numbers = [int(n) for n in re.findall(r"character (\d+)", str(caught.value))]
    assert [text[n - 1] for n in numbers] == ["(", "|"]


def test_numbers_read_as_the_command_line_reads_them():
    # --negative-slope takes 1e-2 and .5; so does the stack syntax
    assert parse_layers("leaky_relu(negative_slope=1e-2) | leaky_relu(negative-slope=.5)") == [
        ("leaky_relu", {"negative_slope": "1e-2"}), ("leaky_relu", {"negative_slope": ".5"})]
    slopes = [layer.negative_slope for layer in stack_spec((1, 1, 4), parse_layers(
        "leaky_relu(negative_slope=1e-2) | leaky_relu(negative_slope=.5) | leaky_relu(negative_slope=2.5E+1)")).layers]
    assert slopes == [Fraction(1, 100), Fraction(1, 2), Fraction(25)]


# --------------------------------------------------------------------------
# Shape chaining: the message names the layer and the parameter.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("shape, text, fragments", [
    pytest.param((1, 1, 4, 4), "conv2d(weight=2,1,3,3) | conv2d(weight=1,3,1,1)",
                 ["layer 2 (conv2d)", "output of layer 1 (conv2d)", "1,2,2,2", "weight: got '1,3,1,1'"],
                 id="channels-do-not-chain"),
    pytest.param((1, 1, 4, 4), "maxpool2d(kernel=2) | maxpool2d(kernel=3)",
                 ["layer 2 (maxpool2d)", "1,1,2,2", "kernel: got '3'"], id="kernel-larger-than-previous-output"),
    pytest.param((1, 1, 4, 4), "maxpool2d(kernel=2) | avgpool2d(kernel=2, padding=2)",
                 ["layer 2 (avgpool2d)", "padding: got '2'"], id="padding-over-half"),
    pytest.param((1, 1, 4, 4), "relu | conv1d(weight=1,1,2)", ["layer 2 (conv1d)", "input"], id="1d-after-2d"),
    pytest.param((1, 1, 6), "conv1d(weight=2,1,3) | relu | maxpool2d(kernel=2)",
                 ["layer 3 (maxpool2d)", "output of layer 2 (relu)", "input"], id="2d-after-1d"),
    pytest.param((1, 1, 4, 4), "conv2d(weight=1,2,3,3)", ["layer 1 (conv2d)", "the input", "weight"],
                 id="first-layer-wrong-channels"),
    pytest.param((1, 1, 4, 4), "relu | relu | conv2d(weight=1,1,5,5)", ["layer 3 (conv2d)", "weight"],
                 id="conv-kernel-too-large"),
    pytest.param((1, 1, 4, 4), "avgpool2d(kernel=2) | avgpool2d(kernel=2, stride=0)",
                 ["layer 2 (avgpool2d)", "stride: got '0'"], id="stride-0"),
    pytest.param((1, 1, 4, 4), "maxpool2d(kernel=2, dilation=0)", ["layer 1 (maxpool2d)", "dilation: got '0'"],
                 id="dilation-0"),
    pytest.param((1, 1, 4, 4), "avgpool2d(kernel=2, dilation=2)", ["layer 1 (avgpool2d)", "dilation"],
                 id="avg-dilation"),
    pytest.param((1, 1, 4, 4), "avgpool2d(kernel=2, divisor_override=0)", ["layer 1", "divisor-override: got 0"],
                 id="divisor-0"),
])
def test_shapes_that_do_not_chain_are_refused_naming_the_layer(shape, text, fragments):
    with pytest.raises(SymconvError) as caught:
        stack_spec(shape, parse_layers(text))
    message = str(caught.value)
    assert message.startswith("layers: layer ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_an_empty_layer_list_is_refused():
    with pytest.raises(SymconvError, match=r"^layers: got nothing"):
        stack_spec((1, 1, 4, 4), [])


def test_output_shapes_chain():
    spec = stack_spec((2, 3, 8, 8), parse_layers(
        "conv2d(weight=4,3,3,3, padding=1) | relu | maxpool2d(kernel=2) | conv2d(weight=5,4,2,2, stride=2)"))
    assert [layer.input for layer in spec.layers] == [(2, 3, 8, 8), (2, 4, 8, 8), (2, 4, 8, 8), (2, 4, 4, 4)]
    assert spec.output_shape == (2, 5, 2, 2)


# --------------------------------------------------------------------------
# Names per layer, and the chain in LaTeX.
# --------------------------------------------------------------------------

FOUR_LAYERS = "conv2d(weight=1,1,3,3, padding=1) | relu | maxpool2d(kernel=2) | conv2d(weight=1,1,2,2)"


@functools.cache
def derived(shape, text, reduction="sum"):
    return derive_stack(stack_spec(shape, parse_layers(text)), reduction=reduction)


def test_tensors_are_named_per_layer():
    derivation = derived((1, 1, 4, 4), FOUR_LAYERS)
    assert derivation.names == [
        {"x": "x", "y": "h1", "w": "w1", "b": "b1"},
        {"x": "h1", "y": "h2"},
        {"x": "h2", "y": "h3"},
        {"x": "h3", "y": "y", "w": "w2", "b": "b2"},
    ]
    assert [list(grads) for grads in derivation.gradients] == [["dx", "dw1", "db1"], ["dh1"], ["dh2"],
                                                               ["dh3", "dw2", "db2"]]
    assert derivation.shapes == {"x": (1, 1, 4, 4), "w1": (1, 1, 3, 3), "b1": (1,), "h1": (1, 1, 4, 4),
                                 "h2": (1, 1, 4, 4), "h3": (1, 1, 2, 2), "w2": (1, 1, 2, 2), "b2": (1,),
                                 "y": (1, 1, 1, 1)}


def test_no_bias_means_no_b_and_no_db():
    derivation = derived((1, 1, 4, 4), "conv2d(weight=1,1,2,2, bias=false) | relu")
    assert list(derivation.gradients[0]) == ["dx", "dw1"]


def test_latex_prints_seed_004s_chain_last_layer_first():
    latex = render(derived((1, 1, 4, 4), FOUR_LAYERS), "latex", standalone=True)
    chain = latex[latex.index(r"\subsection*{The chain}"):]
    chain = chain[:chain.index(r"\end{align*}")]
    rows = [
        r"\partial h^{(3)} &= \operatorname{rot180}(w^{(2)}) \,\hat{*}\, \partial y",
        r"\partial w^{(2)} &=",
        r"\partial h^{(2)} &= \operatorname{maxunpool}(\partial h^{(3)})",
        r"\partial h^{(1)} &= \partial h^{(2)} \odot [h^{(1)} > 0]",
        r"\partial x &= \operatorname{rot180}(w^{(1)}) \,\hat{*}\, \partial h^{(1)}",
        r"\partial w^{(1)} &=",
        r"\partial b^{(1)} &=",
    ]
    positions = [chain.find(row) for row in rows]
    assert -1 not in positions, [row for row, at in zip(rows, positions) if at == -1]
    assert positions == sorted(positions)
    # Then the layers, forward first, gradients from the last layer back.
    titles = re.findall(r"\\subsection\*\{(Layer [^}]*)\}", latex)
    assert titles == [
        "Layer 1 (conv2d): forward, h1 from x",
        "Layer 2 (relu): forward, h2 from h1",
        "Layer 3 (maxpool2d): forward, h3 from h2",
        "Layer 4 (conv2d): forward, y from h3",
        "Layer 4 (conv2d): gradient with respect to h3, from dy",
        "Layer 4 (conv2d): gradient with respect to w2, from dy",
        "Layer 4 (conv2d): gradient with respect to b2, from dy",
        "Layer 3 (maxpool2d): gradient with respect to h2, from dh3",
        "Layer 2 (relu): gradient with respect to h1, from dh2",
        "Layer 1 (conv2d): gradient with respect to x, from dh1",
        "Layer 1 (conv2d): gradient with respect to w1, from dh1",
        "Layer 1 (conv2d): gradient with respect to b1, from dh1",
    ]


def test_chain_for_leaky_relu_and_avgpool():
    latex = render(derived((1, 1, 4, 4), "leaky_relu(negative_slope=1/10) | avgpool2d(kernel=2)"), "markdown")
    assert "## The chain" in latex
    assert r"\partial h^{(1)} &= \operatorname{avgunpool}(\partial y)" in latex
    assert r"\partial x &= \partial h^{(1)} \odot ([x > 0] + \tfrac{1}{10}[x \le 0])" in latex


def test_the_max_pool_inside_a_stack_prints_max_and_brackets():
    latex = render(derived((1, 1, 4, 4), FOUR_LAYERS), "latex", standalone=True)
    section = latex[latex.index("Layer 3 (maxpool2d): gradient"):]
    section = section[:section.index(r"\end{align*}")]
    assert r"\,[h^{(2)}" in section and "= m^{(3)}_{" in section  # the winner of h3's window
    for banned in (">", r"\geq", r"\mathbb{1}", "Piecewise"):
        assert banned not in section


def test_compact_subscripts_are_the_same_for_intermediate_tensors():
    latex = render(derived((1, 1, 3, 3), "conv2d(weight=1,1,2,2) | relu"), "latex", index_base=1)
    assert r"x_{11}" in latex  # compact style is in use
    assert r"h^{(1)}_{11}" in latex and r"h^{(1)}_{1111}" not in latex


# --------------------------------------------------------------------------
# End to end against PyTorch autograd on the same network.
# --------------------------------------------------------------------------


def torch_network(torch, name, t):
    F = torch.nn.functional
    if name == "conv-relu-maxpool-conv":
        h = F.conv2d(t["x"], t["w1"], t["b1"], padding=1)
        h = F.max_pool2d(F.relu(h), 2, ceil_mode=True)
        return F.conv2d(h, t["w2"], t["b2"])
    if name == "conv-leaky-avgpool-conv":
        h = F.leaky_relu(F.conv2d(t["x"], t["w1"]), negative_slope=0.1)
        h = F.avg_pool2d(h, 3, stride=2, padding=1, count_include_pad=False)
        return F.conv2d(h, t["w2"], t["b2"], padding=1)
    if name == "1d-conv-leaky-maxpool-conv-relu":
        h = F.leaky_relu(F.conv1d(t["x"], t["w1"], t["b1"], padding=1), negative_slope=0.01)
        h = F.max_pool1d(h, 3, stride=2, padding=1)
        return F.relu(F.conv1d(h, t["w2"], t["b2"]))
    if name == "1d-avgpool-divisor-conv-leaky":
        h = F.avg_pool2d(t["x"].unsqueeze(2), (1, 2), stride=(1, 1), padding=(0, 1), divisor_override=3).squeeze(2)
        return F.leaky_relu(F.conv1d(h, t["w1"], t["b1"], dilation=2), negative_slope=0.25)
    if name == "conv-relu-global-avgpool":
        return F.adaptive_avg_pool2d(F.relu(F.conv2d(t["x"], t["w1"], t["b1"], padding=1)), 1)
    if name == "conv-relu-adaptive-maxpool-conv":
        h = F.adaptive_max_pool2d(F.relu(F.conv2d(t["x"], t["w1"], t["b1"])), (4, 3))
        return F.conv2d(h, t["w2"], t["b2"])
    raise AssertionError(name)


STACKS = [
    pytest.param("conv-relu-maxpool-conv", (2, 2, 5, 5),
                 "conv2d(weight=3,2,3,3, padding=1) | relu | maxpool2d(kernel=2, ceil_mode=true) | "
                 "conv2d(weight=2,3,2,2)",
                 id="conv-relu-maxpool-conv"),
    pytest.param("conv-leaky-avgpool-conv", (1, 2, 6, 6),
                 "conv2d(weight=2,2,3,3, bias=false) | leaky_relu(negative_slope=0.1) | "
                 "avgpool2d(kernel=3, stride=2, padding=1, count_include_pad=false) | "
                 "conv2d(weight=1,2,2,2, padding=1)",
                 id="conv-leaky-avgpool-conv"),
    pytest.param("1d-conv-leaky-maxpool-conv-relu", (2, 1, 8),
                 "conv1d(weight=2,1,3, padding=1) | leaky_relu | maxpool1d(kernel=3, stride=2, padding=1) | "
                 "conv1d(weight=2,2,2) | relu",
                 id="1d-conv-leaky-maxpool-conv-relu"),
    pytest.param("1d-avgpool-divisor-conv-leaky", (3, 2, 7),
                 "avgpool1d(kernel=2, stride=1, padding=1, divisor_override=3) | conv1d(weight=1,2,3, dilation=2) | "
                 "leaky_relu(negative_slope=1/4)",
                 id="1d-avgpool-divisor-conv-leaky"),
    pytest.param("conv-relu-global-avgpool", (2, 2, 5, 5),
                 "conv2d(weight=3,2,3,3, padding=1) | relu | adaptive_avgpool2d(output_size=1)",
                 id="conv-relu-global-avgpool"),
    pytest.param("conv-relu-adaptive-maxpool-conv", (1, 2, 7, 6),
                 "conv2d(weight=2,2,2,2) | relu | adaptive_maxpool2d(output_size=4,3) | conv2d(weight=1,2,2,2)",
                 id="conv-relu-adaptive-maxpool-conv"),
]


def chain_values(derivation, leaves):
    """Every tensor of the stack, evaluated along the chain from the derived tables."""
    values = dict(leaves)
    for names, table in zip(derivation.names, derivation.forward):
        values[names["y"]] = evaluate_table(table, derivation.shapes[names["y"]], values, float)
    for grads in reversed(derivation.gradients):
        for name, table in grads.items():
            values[name] = evaluate_table(table, derivation.shapes[name[1:]], values, float)
    return values


def leaf_values(derivation, kind, seed):
    rng = np.random.default_rng(seed)
    shapes = {name: shape for name, shape in derivation.shapes.items()
              if shape is not None and (name == "x" or name[0] in "wb")}
    shapes["dy"] = derivation.shapes["y"]
    if kind == "normal":
        return {name: rng.standard_normal(shape) for name, shape in shapes.items()}
    # Small integers: exact zeros before a ReLU and ties inside max windows.
    return {name: rng.integers(-2, 3, size=shape).astype(float) for name, shape in shapes.items()}


@pytest.mark.parametrize("values", ["normal", "integers"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("name, shape, text", STACKS)
def test_stack_gradients_match_torch_autograd(name, shape, text, reduction, values):
    torch = pytest.importorskip("torch")
    derivation = derived(shape, text, reduction)
    leaves = leaf_values(derivation, values, seed=len(text))
    got = chain_values(derivation, leaves)
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=(k != "dy")) for k, v in leaves.items()}
    y = torch_network(torch, name, tensors)
    loss = (y * tensors["dy"]).sum()
    if reduction == "mean":
        loss = loss / shape[0]
    loss.backward()
    np.testing.assert_allclose(got["y"], y.detach().numpy(), rtol=1e-10, atol=1e-12)
    parameters = [k for k in leaves if k != "dy"]
    assert "x" in parameters and "w1" in parameters
    for leaf in parameters:
        np.testing.assert_allclose(got["d" + leaf], tensors[leaf].grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"d{leaf}")


def test_mean_reduction_scales_the_stack_once():
    total = derived((2, 1, 4, 4), FOUR_LAYERS, "sum")
    mean = derived((2, 1, 4, 4), FOUR_LAYERS, "mean")
    leaves = leaf_values(total, "normal", seed=1)
    a, b = chain_values(total, leaves), chain_values(mean, leaves)
    for name in ("dx", "dw1", "db1", "dh1", "dh2", "dh3", "dw2", "db2"):
        np.testing.assert_allclose(b[name], a[name] / 2, rtol=1e-12, atol=1e-14, err_msg=name)
    assert mean.reduction == "mean"


def test_unknown_reduction_is_refused():
    with pytest.raises(SymconvError, match="reduction: got 'avg'"):
        derive_stack(stack_spec((1, 1, 4, 4), parse_layers("relu")), reduction="avg")


# --------------------------------------------------------------------------
# The JSON contract of a stack, evaluated exactly with parse_expr.
# --------------------------------------------------------------------------


def test_stack_json_evaluates_exactly_to_torchs_gradients():
    torch = pytest.importorskip("torch")
    text = "conv2d(weight=1,1,2,2, padding=1) | relu | maxpool2d(kernel=2)"
    derivation = derived((1, 1, 3, 3), text)
    data = json.loads(render(derivation, "json"))
    assert data["layer"]["kind"] == "stack" and data["layer"]["reduction"] == "sum"
    assert list(data["gradients"]) == ["dh2", "dh1", "dx", "dw1", "db1"]
    assert data["shapes"] == {"x": [1, 1, 3, 3], "w1": [1, 1, 2, 2], "b1": [1], "h1": [1, 1, 4, 4],
                              "h2": [1, 1, 4, 4], "y": [1, 1, 2, 2]}
    names = {n: IndexedBase(n) for n in list(data["shapes"]) + ["d" + n for n in data["shapes"]]}
    leaves = {"x": np.array([[[[1, -2, 0], [3, 3, -1], [0, 2, 1]]]]), "w1": np.array([[[[1, -1], [0, 2]]]]),
              "b1": np.array([-1]), "dy": np.array([[[[3, -2], [5, 7]]]])}
    values = {names[n][i]: Rational(int(a[i])) for n, a in leaves.items() for i in np.ndindex(*a.shape)}
    results = {}
    for table in [data["forward"]] + list(data["gradients"].values()):  # in chain order
        for key, expression in table.items():
            name, index = key[:key.index("[")], tuple(int(i) for i in key[key.index("[") + 1:-1].split(","))
            value = parse_expr(expression, local_dict=dict(names)).xreplace(values)
            assert value.is_Rational, (key, value)
            values[names[name][index]] = value
            results.setdefault(name, {})[index] = value
    tensors = {k: torch.tensor(v.astype(float), dtype=torch.float64, requires_grad=(k != "dy"))
               for k, v in leaves.items()}
    F = torch.nn.functional
    y = F.max_pool2d(F.relu(F.conv2d(tensors["x"], tensors["w1"], tensors["b1"], padding=1)), 2)
    (y * tensors["dy"]).sum().backward()
    for name, expected in (("y", y.detach()), ("dx", tensors["x"].grad), ("dw1", tensors["w1"].grad),
                           ("db1", tensors["b1"].grad)):
        expected = expected.numpy()
        got = np.zeros(expected.shape)
        for index, value in results[name].items():
            got[index] = float(value)
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_verify_stack_passes_on_the_issue_example():
    report = verify_stack(derived((1, 3, 4, 4), "conv2d(weight=2,3,3,3, padding=1) | relu | maxpool2d(kernel=2)"))
    assert report.passed, report.table()
    assert [check.name for check in report.checks] == ["h1", "h2", "y", "dh2", "dh1", "dx", "dw1", "db1"]


# --------------------------------------------------------------------------
# The stack verifier keeps its finite differences away from kinks and ties:
# it draws again while a ReLU input or a max-pool winner's lead is within
# KINK_STEPS steps, and fails the report if no draw gets clear.
# --------------------------------------------------------------------------

CONV_RELU = "conv2d(weight=1,1,2,2) | relu"


def _near_kink_first(monkeypatch, fix, times=1):
    """Make the first ``times`` draws go through ``fix(values)``; count all draws."""
    import symconv.verify.stack as module

    plain, calls = module.draw_values, []

    def draw(shapes, rng):
        values = plain(shapes, rng)
        calls.append(values)
        return fix(values) if len(calls) <= times else values

    monkeypatch.setattr(module, "draw_values", draw)
    return calls


def _relu_input_at(values, distance):
    """Set b1 so that the conv output h1[0, 0, 0, 0] (a ReLU input) is ``distance``."""
    values["b1"] = np.array([distance - float(np.sum(values["w1"][0, 0] * values["x"][0, 0, :2, :2]))])
    return values


def test_verify_stack_draws_again_when_a_relu_input_lands_near_0(monkeypatch):
    from symconv.verify.stack import FD_STEP, KINK_STEPS

    calls = _near_kink_first(monkeypatch, lambda v: _relu_input_at(v, 3 * FD_STEP))
    report = verify_stack(derived((1, 1, 3, 3), CONV_RELU))
    assert len(calls) == report.draws == 2
    assert report.passed and report.kink_distance >= KINK_STEPS * FD_STEP, report.table()
    assert "prove nothing" not in report.table()


def test_verify_stack_draws_again_when_a_max_pool_window_ties(monkeypatch):
    def tie(values):
        values["x"][0, 0, 1, 1] = values["x"][0, 0, 0, 0] = np.abs(values["x"][0, 0, :2, :2]).max() + 1
        return values

    calls = _near_kink_first(monkeypatch, tie)
    report = verify_stack(derived((1, 1, 4, 4), "maxpool2d(kernel=2) | relu"))
    assert len(calls) == report.draws == 2 and report.passed, report.table()


def test_verify_stack_fails_and_says_so_when_no_draw_gets_clear(monkeypatch):
    from symconv.verify.stack import MAX_DRAWS

    calls = _near_kink_first(monkeypatch, lambda v: _relu_input_at(v, 0.0), times=10**6)
    report = verify_stack(derived((1, 1, 3, 3), CONV_RELU))
    assert len(calls) == report.draws == MAX_DRAWS
    assert not report.passed and not report.away_from_kinks
    assert report.kink_distance < 1e-12 and report.nearest == "relu input h1[0, 0, 0, 0]"
    table = report.table()
    assert "in 20 draws no values were 10 steps" in table and "prove nothing" in table
    assert table.rstrip().endswith("MISMATCH: some checks failed")
    assert "prove nothing" in report._repr_html_()


def test_ties_among_values_relu_clamped_to_0_are_not_kinks(monkeypatch):
    # Every window of the max pool reads only clamped zeros except the first,
    # whose winner is far ahead: nothing there can move, nothing to redraw.
    def clamped(values):
        values["x"] = -1 - np.abs(values["x"])
        values["x"][0, 0, 0, 0] = 2.0
        return values

    calls = _near_kink_first(monkeypatch, clamped)
    report = verify_stack(derived((1, 1, 4, 4), "relu | maxpool2d(kernel=2) | relu"))
    assert len(calls) == report.draws == 1 and report.passed, report.table()
    # Nearest: a ReLU input, 1 or more from 0; the pool's zeros and the
    # second ReLU's zero inputs would be 0 away if they counted.
    assert report.kink_distance >= 1 and report.nearest.startswith("relu input x["), report.nearest


def test_ties_after_leaky_relu_are_kinks(monkeypatch):
    # Leaky ReLU keeps negative inputs moving: equal ones tie for real.
    def tied(values):
        values["x"][0, 0, :2, :2] = -1.0
        return values

    calls = _near_kink_first(monkeypatch, tied)
    report = verify_stack(derived((1, 1, 4, 4), "leaky_relu | maxpool2d(kernel=2)"))
    assert len(calls) == report.draws == 2 and report.passed, report.table()


def test_stack_kinks_are_found_along_the_chain():
    from symconv.verify.stack import _kink_distance

    derivation = derived((1, 1, 2, 4), "conv2d(weight=1,1,1,1, bias=false) | relu | maxpool2d(kernel=2)")
    values = {"x": np.array([[[[1.0, 3.0, -2.0, -4.0], [2.5, 0.5, -3.0, -1.0]]]]), "w1": np.array([[[[2.0]]]])}
    # h1 = 2x: ReLU inputs 2, 6, -4, -8, 5, 1, -6, -2 (nearest 0: 1 at h1[0, 0, 1, 1]);
    # window 1: 6 leads 5 by 1; window 2: clamped zeros only.
    assert _kink_distance(derivation, values) == (1.0, "relu input h1[0, 0, 1, 1]")
    values["x"][0, 0, 1, 0] = 2.75  # window 1: 6 leads 5.5 by 0.5
    assert _kink_distance(derivation, values) == (0.5, "maxpool2d window of y[0, 0, 0, 0]")


def test_copies_of_one_winner_are_not_rivals_but_equal_leaves_are():
    from symconv.verify.stack import _kink_distance

    derivation = derived((1, 1, 5), "maxpool1d(kernel=2, stride=1) | maxpool1d(kernel=2, stride=1)")
    # h1 = [6, 5, 5, 3]: h1[1] and h1[2] are both x[2]. The window of y[1]
    # holds that one value twice, which moves as one: no rival, no kink.
    # Nearest: y[0], where 6 (x[0]) leads 5 (x[2]) by 1.
    values = {"x": np.array([[[6.0, 0.0, 5.0, 1.0, 3.0]]])}
    assert _kink_distance(derivation, values) == (1.0, "maxpool1d window of y[0, 0, 0]")
    # Two different leaves of equal value do tie: x[0] and x[2] meet in y[0]'s window.
    values["x"][0, 0, 0] = 5.0
    assert _kink_distance(derivation, values) == (0.0, "maxpool1d window of y[0, 0, 0]")


@pytest.mark.parametrize("shape, text", [
    ((1, 1, 6, 6), "maxpool2d(kernel=3, stride=1) | maxpool2d(kernel=2, stride=1)"),
    ((1, 2, 6, 6), "conv2d(weight=2,2,2,2) | maxpool2d(kernel=2, stride=1) | relu | maxpool2d(kernel=2, stride=1)"),
    ((1, 1, 9), "maxpool1d(kernel=3, stride=1) | leaky_relu | adaptive_maxpool1d(output_size=3)"),
])
def test_overlapping_max_pools_in_a_row_verify_at_the_first_draw(shape, text):
    # Overlapping windows pass one maximum to several outputs, so the next
    # pool's windows hold it more than once; those ties used to void every draw.
    report = verify_stack(derived(shape, text))
    assert report.passed and report.draws == 1, report.table()


def test_batch_norm_keeps_copies_of_one_value_in_a_channel_as_copies():
    from symconv.layers import rule_for
    from symconv.layers.rule import CONSTANT
    from symconv.spec.norm import batchnorm_spec

    spec = batchnorm_spec("batchnorm1d", (1, 2, 4))
    origin = np.array([[[5, 5, CONSTANT, CONSTANT], [5, 7, 7, CONSTANT]]])
    _, labels = rule_for(spec).kinks(spec, np.zeros(spec.input), origin)
    (a, b, c, d), (e, f, g, h) = labels[0].tolist()
    assert a == b and f == g  # copies in one channel: one function of the leaves
    assert len({a, e, f}) == 3  # one origin in two channels: two functions (each channel its own statistics)
    assert len({c, d, h, a, e, f}) == 6 and CONSTANT not in (c, d, h)  # constants move with the statistics


def test_a_batch_norm_between_overlapping_max_pools_verifies_at_the_first_draw():
    report = verify_stack(derived((2, 2, 6), "maxpool1d(kernel=3, stride=1, padding=1) | batchnorm1d | "
                                             "maxpool1d(kernel=2, stride=1)"))
    assert report.passed and report.draws == 1, report.table()


def test_stacked_max_pools_name_each_winner_after_its_own_output():
    # The last pool's winner is m (the window of y); an inner pool's is m^{(1)}
    # (the window of h1), and the introduction says so.
    from symconv.printing.formats import render
    from symconv.engine.derive import derive_stack
    from symconv.spec.stack import parse_layers, stack_spec

    d = derive_stack(stack_spec((1, 1, 4, 4), parse_layers("maxpool2d(kernel=2, stride=1) | maxpool2d(kernel=2)")))
    latex = render(d, "latex")
    assert r"[h^{(1)}_{00} = m_{00}]" in latex
    assert r"[x_{01} = m^{(1)}_{00}]" in latex
    assert r"m^{(l)}_{...} that of h^{(l)}_{...}" in latex.splitlines()[0]
    text = render(d, "text")
    assert "dx[0,1] = dh1[0,0]*[x[0,1] = m1[0,0]] + dh1[0,1]*[x[0,1] = m1[0,1]]" in text
    assert text.splitlines()[2].startswith("m, m1, m2, ... = the winner of a window of y, h1, h2")
