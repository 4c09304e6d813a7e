"""Tests for the ``symconv`` command line (symconv.cli.app): the CLI contract.

Every refusal: exit status 2, exactly one line on stderr naming the parameter
and the value received, nothing on stdout, no traceback. Every option: its
effect is visible in the output (the JSON ``layer`` block for layer options).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import symconv
from symconv.cli.app import cli
from symconv.spec.conv import conv_spec
from symconv.spec.size import DEFAULT_MAX_TERMS

EXAMPLE = "derive conv2d --input 1,1,4,4 --weight 1,1,2,2"  # the seeds' 4x4 input, 2x2 filter


def _runner() -> CliRunner:
    """stdout and stderr kept apart: click >= 8.2 always does, older needs mix_stderr=False."""
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2+ removed the argument; result.stderr is separate
        return CliRunner()


def invoke(args):
    if isinstance(args, str):
        args = shlex.split(args)
    return _runner().invoke(cli, list(args))


def derive_json(args: str) -> dict:
    result = invoke(args + " --format json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def torch_out(size, kernel, stride, pad_total, dilation):
    """PyTorch's rule: floor((H + 2P - D(K-1) - 1)/S) + 1, with 2P the total padding."""
    return math.floor((size + pad_total - dilation * (kernel - 1) - 1) / stride) + 1


def _estimate(kind, input, weight) -> str:
    """The size guard's estimate as the message shows it (thousands separators)."""
    return f"{conv_spec(kind, input, weight).estimate_terms():,}"


# --------------------------------------------------------------------------
# Bad input: exit 2, one line on stderr naming the parameter and the value.
# --------------------------------------------------------------------------


BAD = [
    # shapes that are not comma-separated positive integers
    pytest.param("derive conv2d --input 1,a,4,4 --weight 1,1,2,2", "input", "1,a,4,4", id="input-letter"),
    pytest.param("derive conv2d --input 1,,4,4 --weight 1,1,2,2", "input", "1,,4,4", id="input-empty-axis"),
    pytest.param("derive conv2d --input 1.5,1,4,4 --weight 1,1,2,2", "input", "1.5,1,4,4", id="input-float"),
    pytest.param("derive conv2d --input '' --weight 1,1,2,2", "input", "''", id="input-empty"),
    pytest.param("derive conv2d --input -1,1,4,4 --weight 1,1,2,2", "input", "-1,1,4,4", id="input-negative"),
    pytest.param("derive conv2d --input 1,1,4,4, --weight 1,1,2,2", "input", "1,1,4,4,", id="input-trailing-comma"),
    pytest.param("derive conv2d --input 1,1,4,4 --weight 1,x,2,2", "weight", "1,x,2,2", id="weight-letter"),
    pytest.param("verify conv2d --input 1,a,4,4 --weight 1,1,2,2", "input", "1,a,4,4", id="verify-input-letter"),
    pytest.param("derive conv2d --input=--1,1,4,4 --weight 1,1,2,2", "input", "--1,1,4,4",
                 id="input-double-minus"),
    pytest.param("derive conv2d --input 1,²,4,4 --weight 1,1,2,2", "input", "1,²,4,4",
                 id="input-superscript-digit"),
    # wrong number of axes for the layer
    pytest.param("derive conv2d --input 1,1,4 --weight 1,1,2,2", "input", "1,1,4", id="conv2d-input-3-sizes"),
    pytest.param("derive conv2d --input 1,1,4,4 --weight 1,1,2", "weight", "1,1,2", id="conv2d-weight-3-sizes"),
    pytest.param("derive conv1d --input 1,1,4,4 --weight 1,1,2", "input", "1,1,4,4", id="conv1d-input-4-sizes"),
    pytest.param("derive conv1d --input 1,1,4 --weight 1,1,2,2", "weight", "1,1,2,2", id="conv1d-weight-4-sizes"),
    # zero-size axis
    pytest.param("derive conv2d --input 1,1,0,4 --weight 1,1,2,2", "input", "1,1,0,4", id="input-zero-axis"),
    pytest.param("derive conv2d --input 1,1,4,4 --weight 1,1,0,2", "weight", "1,1,0,2", id="weight-zero-axis"),
    # a kernel larger than the padded input
    pytest.param("derive conv2d --input 1,1,4,4 --weight 1,1,5,5", "weight", "1,1,5,5",
                 id="kernel-larger-than-input"),
    # stride, dilation below 1; negative padding; malformed per-axis values
    pytest.param(EXAMPLE + " --stride 0", "stride", "0", id="stride-0"),
    pytest.param(EXAMPLE + " --stride -1", "stride", "-1", id="stride-negative"),
    pytest.param(EXAMPLE + " --stride 1,0", "stride", "1,0", id="stride-per-axis-0"),
    pytest.param(EXAMPLE + " --stride 1.5", "stride", "1.5", id="stride-float"),
    pytest.param(EXAMPLE + " --dilation 0", "dilation", "0", id="dilation-0"),
    pytest.param(EXAMPLE + " --dilation -1", "dilation", "-1", id="dilation-negative"),
    pytest.param(EXAMPLE + " --padding -1", "padding", "-1", id="padding-negative"),
    pytest.param(EXAMPLE + " --padding 1,-1", "padding", "1,-1", id="padding-per-axis-negative"),
    pytest.param(EXAMPLE + " --padding full", "padding", "full", id="padding-unknown-word"),
    pytest.param(EXAMPLE + " --stride 1,2,3", "stride", "1,2,3", id="stride-3-values-conv2d"),
    pytest.param(EXAMPLE + " --dilation 1,2,3", "dilation", "1,2,3", id="dilation-3-values-conv2d"),
    pytest.param(EXAMPLE + " --padding 1,2,3", "padding", "1,2,3", id="padding-3-values-conv2d"),
    pytest.param("derive conv1d --input 1,1,4 --weight 1,1,2 --stride 1,2", "stride", "1,2",
                 id="stride-2-values-conv1d"),
    pytest.param(EXAMPLE + " --padding same --stride 2", "padding", "same", id="same-with-stride-2"),
    pytest.param(EXAMPLE + " --padding same --stride 1,2", "padding", "same", id="same-with-stride-1,2"),
    # groups and channels
    pytest.param("derive conv2d --input 1,3,4,4 --weight 4,1,2,2 --groups 2", "groups", "got 2",
                 id="groups-not-dividing-C"),
    pytest.param("derive conv2d --input 1,4,4,4 --weight 3,2,2,2 --groups 2", "groups", "got 2",
                 id="groups-not-dividing-F"),
    pytest.param(EXAMPLE + " --groups 0", "groups", "0", id="groups-0"),
    pytest.param(EXAMPLE + " --groups x", "groups", "x", id="groups-not-integer"),
    pytest.param("derive conv2d --input 1,2,4,4 --weight 1,1,2,2", "weight", "1,1,2,2", id="channel-mismatch"),
    pytest.param("derive conv2d --input 1,4,4,4 --weight 2,1,2,2 --groups 2", "weight", "2,1,2,2",
                 id="channel-mismatch-grouped"),
    # unknown names and values
    pytest.param("derive conv4d --input 1,1,4,4,4 --weight 1,1,2,2,2", "layer", "conv4d", id="layer-conv4d"),
    pytest.param("verify conv4d --input 1,1,4,4,4 --weight 1,1,2,2,2", "layer", "conv4d", id="verify-layer-conv4d"),
    pytest.param("derive --input 1,1,4,4 --weight 1,1,2,2", "layer", "LAYER",
                 id="layer-missing"),
    pytest.param(EXAMPLE + " --format pdf", "format", "pdf", id="format-unknown"),
    pytest.param(EXAMPLE + " --index-base 2", "index-base", "2", id="index-base-2"),
    pytest.param(EXAMPLE + " --bogus", "bogus", "--bogus", id="option-unknown"),
    pytest.param("verify conv2d --input 1,1,4,4 --weight 1,1,2,2 --format pdf", "format", "pdf",
                 id="verify-format-unknown"),
    pytest.param("verify conv2d --input 1,1,4,4 --weight 1,1,2,2 --seed x", "seed", "x", id="seed-not-integer"),
    pytest.param("verify conv2d --input 1,1,4,4 --weight 1,1,2,2 --seed -1", "seed", "-1", id="seed-negative"),
    pytest.param("verify stack --input 1,1,4,4 --layers 'conv2d(weight=1,1,2,2)' --seed -1", "seed", "-1",
                 id="stack-seed-negative"),
    # absurd sizes: refused by value, not by an OverflowError deep inside
    pytest.param(EXAMPLE + " --stride 99999999999999999999", "stride", "99999999999999999999", id="stride-huge"),
    pytest.param(EXAMPLE + " --padding 2147483648", "padding", "2147483648", id="padding-2**31"),
    pytest.param(EXAMPLE + " --dilation 1,99999999999999999999", "dilation", "1,99999999999999999999",
                 id="dilation-huge"),
    pytest.param(EXAMPLE + " --groups 99999999999999999999", "groups", "99999999999999999999", id="groups-huge"),
    pytest.param("derive conv2d --input 1,1,99999999999999999999,4 --weight 1,1,2,2", "input",
                 "1,1,99999999999999999999,4", id="input-huge"),
    pytest.param("derive conv2d --input 1,1,4,4 --weight 1,1,2147483648,2", "weight", "1,1,2147483648,2",
                 id="weight-2**31"),
    pytest.param("derive stack --input 1,1,4,4 --layers 'conv2d(weight=1,1,2,2, stride=99999999999999999999)'",
                 "stride", "99999999999999999999", id="stack-stride-huge"),
    pytest.param(EXAMPLE + " --max-terms 99999999999999999999", "max-terms", "99999999999999999999",
                 id="max-terms-huge"),
    pytest.param(EXAMPLE + " --standalone --format text", "standalone", "text", id="standalone-with-text"),
    pytest.param(EXAMPLE + " --standalone --format json", "standalone", "json", id="standalone-with-json"),
    pytest.param(EXAMPLE + " --max-terms 0", "max-terms", "0", id="max-terms-0"),
    pytest.param(EXAMPLE + " -o /nonexistent-symconv-dir/out.tex", "output", "/nonexistent-symconv-dir/out.tex",
                 id="output-missing-directory"),
    # over the size guard: the message contains the estimate
    pytest.param("derive conv2d --input 8,64,64,64 --weight 64,64,7,7", "max-terms",
                 _estimate("conv2d", (8, 64, 64, 64), (64, 64, 7, 7)), id="over-default-max-terms"),
    pytest.param("verify conv2d --input 8,64,64,64 --weight 64,64,7,7", "max-terms",
                 _estimate("conv2d", (8, 64, 64, 64), (64, 64, 7, 7)), id="verify-over-default-max-terms"),
    pytest.param(EXAMPLE + " --max-terms 10", "max-terms",
                 _estimate("conv2d", (1, 1, 4, 4), (1, 1, 2, 2)), id="over-max-terms-10"),
]


@pytest.mark.parametrize("args, word, value", BAD)
def test_bad_input_is_refused_in_one_line(args, word, value):
    result = invoke(args)
    # SystemExit(2) from the CLI itself, not an exception the runner caught
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.output + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("Error:"), line
    assert word in line.lower(), line
    assert value in line, line


def test_default_max_terms_refusal_states_the_estimate():
    """How quick the refusal is, benchmarks/bench_refusal.py measures; here, what it says."""
    spec = conv_spec("conv2d", (8, 64, 64, 64), (64, 64, 7, 7))
    assert spec.estimate_terms() > DEFAULT_MAX_TERMS
    result = invoke("derive conv2d --input 8,64,64,64 --weight 64,64,7,7")
    assert result.exit_code == 2
    assert f"{spec.estimate_terms():,}" in result.stderr
    assert f"{DEFAULT_MAX_TERMS:,}" in result.stderr


def test_huge_layer_refusal_is_quick_even_for_long_axes():
    # run as a process so the slow guard can be killed at the deadline
    try:
        completed = subprocess.run(
            [str(_console_script()), "derive", "conv1d", "--input", "1,1,1000000", "--weight", "1,1,1000"],
            capture_output=True, text=True, timeout=3,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the size guard did not refuse within 3 s")
    assert completed.returncode == 2
    assert "max-terms" in completed.stderr


# --------------------------------------------------------------------------
# Formats and printing options
# --------------------------------------------------------------------------


def _is_latex(out):
    return "\\begin{align*}" in out and "\\end{align*}" in out


def _is_markdown(out):
    return "$$" in out and "\\begin{aligned}" in out and out.lstrip().startswith("#")


def _is_text(out):
    return "dx[" in out and "dw[" in out and "\\begin" not in out


def _is_json(out):
    data = json.loads(out)
    return {"layer", "shapes", "forward", "gradients"} <= set(data)


@pytest.mark.parametrize(
    "fmt, check",
    [
        pytest.param("latex", _is_latex, id="latex"),
        pytest.param("markdown", _is_markdown, id="markdown"),
        pytest.param("text", _is_text, id="text"),
        pytest.param("json", _is_json, id="json"),
    ],
)
@pytest.mark.parametrize("layer_args", [
    pytest.param(EXAMPLE, id="conv2d-4x4"),
    pytest.param("derive conv1d --input 2,2,5 --weight 2,1,3 --groups 2 --padding 1", id="conv1d-grouped"),
])
def test_each_format_produces_its_kind_of_output(layer_args, fmt, check):
    result = invoke(f"{layer_args} --format {fmt}")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert check(result.stdout), result.stdout[:500]


def test_latex_is_the_default_format():
    assert invoke(EXAMPLE).stdout == invoke(EXAMPLE + " --format latex").stdout


def test_json_has_every_element_and_gradient():
    data = derive_json(EXAMPLE)
    assert data["shapes"] == {"x": [1, 1, 4, 4], "w": [1, 1, 2, 2], "b": [1], "y": [1, 1, 3, 3]}
    assert len(data["forward"]) == 9
    assert set(data["gradients"]) == {"dx", "dw", "db"}
    assert len(data["gradients"]["dx"]) == 16
    assert len(data["gradients"]["dw"]) == 4
    assert len(data["gradients"]["db"]) == 1
    # the corner of x only meets the first tap of the first output
    assert data["gradients"]["dx"]["dx[0, 0, 0, 0]"] == "dy[0, 0, 0, 0]*w[0, 0, 0, 0]"


@pytest.mark.parametrize("fmt", ["latex", "markdown"])
@pytest.mark.parametrize(
    "base, present, absent",
    [
        pytest.param("0", "x_{00}", "x_{44}", id="base-0"),
        pytest.param("1", "x_{11}", "x_{00}", id="base-1"),
    ],
)
def test_index_base_renumbers_elements(fmt, base, present, absent):
    result = invoke(f"{EXAMPLE} --format {fmt} --index-base {base}")
    assert result.exit_code == 0, result.stderr
    assert present in result.stdout
    assert absent not in result.stdout


def test_index_base_1_shifts_every_subscript():
    zero = invoke(EXAMPLE + " --index-base 0").stdout
    one = invoke(EXAMPLE + " --index-base 1").stdout
    assert "x_{00}" in zero and "x_{00}" not in one
    assert "x_{11}" in one and "x_{44}" in one
    assert "indices are 1-based" in one


def test_index_base_in_text_format():
    out = invoke(EXAMPLE + " --format text --index-base 1").stdout
    assert "x[1,1]" in out and "x[0,0]" not in out


def test_json_is_zero_based_whatever_index_base_says():
    assert invoke(EXAMPLE + " --format json --index-base 1").stdout == invoke(EXAMPLE + " --format json").stdout


def test_standalone_is_a_complete_document():
    result = invoke(EXAMPLE + " --standalone")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("\\documentclass")
    assert result.stdout.rstrip().endswith("\\end{document}")
    assert "\\begin{document}" in result.stdout
    assert "\\begin{align*}" in result.stdout


def test_standalone_with_explicit_latex_format():
    result = invoke(EXAMPLE + " --standalone --format latex")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("\\documentclass")


def test_without_standalone_there_is_no_preamble():
    out = invoke(EXAMPLE).stdout
    assert "\\documentclass" not in out and "\\end{document}" not in out


@pytest.mark.parametrize("fmt", ["latex", "markdown", "text", "json"])
@pytest.mark.parametrize("flag", ["-o", "--output"])
def test_output_file_is_written_and_stdout_is_empty(tmp_path, flag, fmt):
    target = tmp_path / f"out.{fmt}"
    result = invoke(EXAMPLE + f" --format {fmt} {flag} {shlex.quote(str(target))}")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    assert target.read_text(encoding="utf-8") == invoke(EXAMPLE + f" --format {fmt}").stdout


def test_output_file_is_overwritten(tmp_path):
    target = tmp_path / "out.tex"
    target.write_text("old contents\n", encoding="utf-8")
    assert invoke(EXAMPLE + f" -o {shlex.quote(str(target))}").exit_code == 0
    assert "old contents" not in target.read_text(encoding="utf-8")
    assert "\\begin{align*}" in target.read_text(encoding="utf-8")


def test_output_to_a_directory_is_refused(tmp_path):
    result = invoke(EXAMPLE + f" -o {shlex.quote(str(tmp_path))}")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "output" in result.stderr.lower()


def test_no_bias_removes_db():
    with_bias = derive_json(EXAMPLE)
    data = derive_json(EXAMPLE + " --no-bias")
    assert data["shapes"]["b"] is None
    assert set(data["gradients"]) == {"dx", "dw"}
    assert data["layer"]["bias"] is False and with_bias["layer"]["bias"] is True
    assert all("b[" not in expr for expr in data["forward"].values())
    assert all("b[0]" in expr for expr in with_bias["forward"].values())


def test_no_bias_in_text_and_latex():
    assert "db" not in invoke(EXAMPLE + " --no-bias --format text").stdout
    assert "db" in invoke(EXAMPLE + " --format text").stdout


# --------------------------------------------------------------------------
# Layer options change the JSON "layer" block as expected
# --------------------------------------------------------------------------

# (command, stride per axis, (before, after) padding per axis, padding_string, dilation per axis, groups)
LAYERS = [
    pytest.param("conv2d --input 1,1,7,6 --weight 1,1,3,2", [1, 1], [[0, 0], [0, 0]], None, [1, 1], 1,
                 id="defaults"),
    pytest.param("conv2d --input 1,1,7,6 --weight 1,1,3,2 --stride 2,1", [2, 1], [[0, 0], [0, 0]], None, [1, 1], 1,
                 id="stride-2,1"),
    pytest.param("conv2d --input 1,1,7,6 --weight 1,1,3,2 --stride 2", [2, 2], [[0, 0], [0, 0]], None, [1, 1], 1,
                 id="stride-2"),
    pytest.param("conv2d --input 1,1,5,6 --weight 1,1,3,2 --padding same", [1, 1], [[1, 1], [0, 1]], "same",
                 [1, 1], 1, id="padding-same"),
    pytest.param("conv2d --input 1,1,5,6 --weight 1,1,4,3 --padding same --dilation 2,1", [1, 1],
                 [[3, 3], [1, 1]], "same", [2, 1], 1, id="padding-same-dilated"),
    pytest.param("conv2d --input 1,1,5,6 --weight 1,1,3,2 --padding valid", [1, 1], [[0, 0], [0, 0]], "valid",
                 [1, 1], 1, id="padding-valid"),
    pytest.param("conv2d --input 1,1,5,6 --weight 1,1,3,2 --padding 1,0", [1, 1], [[1, 1], [0, 0]], None,
                 [1, 1], 1, id="padding-1,0"),
    pytest.param("conv2d --input 1,1,5,6 --weight 1,1,3,2 --padding 2", [1, 1], [[2, 2], [2, 2]], None,
                 [1, 1], 1, id="padding-2"),
    pytest.param("conv2d --input 1,1,7,6 --weight 1,1,3,2 --dilation 2", [1, 1], [[0, 0], [0, 0]], None,
                 [2, 2], 1, id="dilation-2"),
    pytest.param("conv2d --input 1,1,7,6 --weight 1,1,3,2 --dilation 1,3", [1, 1], [[0, 0], [0, 0]], None,
                 [1, 3], 1, id="dilation-1,3"),
    pytest.param("conv2d --input 1,4,5,5 --weight 6,2,3,3 --groups 2", [1, 1], [[0, 0], [0, 0]], None,
                 [1, 1], 2, id="groups-2"),
    pytest.param("conv2d --input 2,4,4,4 --weight 4,1,2,2 --groups 4", [1, 1], [[0, 0], [0, 0]], None,
                 [1, 1], 4, id="depthwise-groups-4"),
    pytest.param("conv2d --input 2,2,7,8 --weight 4,1,3,2 --stride 2,3 --padding 1,2 --dilation 2,1 --groups 2",
                 [2, 3], [[1, 1], [2, 2]], None, [2, 1], 2, id="everything-conv2d"),
    pytest.param("conv1d --input 1,2,9 --weight 3,2,3 --stride 3 --padding 2 --dilation 2", [3], [[2, 2]], None,
                 [2], 1, id="conv1d-stride-padding-dilation"),
    pytest.param("conv1d --input 1,1,6 --weight 1,1,4 --padding same", [1], [[1, 2]], "same", [1], 1,
                 id="conv1d-same-even-kernel"),
    pytest.param("conv1d --input 1,1,6 --weight 1,1,3 --padding SAME --dilation 2", [1], [[2, 2]], "same", [2], 1,
                 id="conv1d-same-upper-case-dilated"),
]


@pytest.mark.parametrize("command, stride, padding, mode, dilation, groups", LAYERS)
def test_layer_options_normalize_into_json_layer(command, stride, padding, mode, dilation, groups):
    args = shlex.split(command)
    input_shape = [int(v) for v in args[args.index("--input") + 1].split(",")]
    weight_shape = [int(v) for v in args[args.index("--weight") + 1].split(",")]
    spatial = [
        torch_out(h, k, s, lo + hi, d)
        for h, k, s, (lo, hi), d in zip(input_shape[2:], weight_shape[2:], stride, padding, dilation)
    ]
    output = [input_shape[0], weight_shape[0], *spatial]

    data = derive_json("derive " + command)
    layer = data["layer"]
    assert layer["kind"] == args[0]
    assert layer["input"] == input_shape
    assert layer["weight"] == weight_shape
    assert layer["stride"] == stride
    assert layer["padding"] == padding
    assert layer["padding_string"] == mode
    assert layer["padding_mode"] == "zeros"
    assert layer["dilation"] == dilation
    assert layer["groups"] == groups
    assert layer["output"] == output
    assert data["shapes"]["y"] == output
    assert len(data["forward"]) == math.prod(output)
    if mode == "same":
        assert output[2:] == input_shape[2:]


def test_padding_pairs_per_side_are_used_in_the_forward():
    # 'same' with a kernel of 2: nothing before, one zero row/column after
    data = derive_json("derive conv2d --input 1,1,3,3 --weight 1,1,2,2 --padding same")
    last = data["forward"]["y[0, 0, 2, 2]"]
    assert last == "b[0] + w[0, 0, 0, 0]*x[0, 0, 2, 2]"


# --------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------

VERIFY = [
    pytest.param("conv1d --input 1,1,5 --weight 1,1,2", id="conv1d-basic"),
    pytest.param("conv2d --input 1,1,4,4 --weight 1,1,2,2", id="conv2d-seeds-example"),
    pytest.param("conv2d --input 2,3,5,5 --weight 2,3,3,3 --stride 2 --padding 1", id="conv2d-stride-padding"),
    pytest.param("conv2d --input 1,4,6,5 --weight 4,2,2,3 --groups 2 --dilation 2,1 --padding 1,0",
                 id="conv2d-groups-dilation"),
    pytest.param("conv2d --input 1,1,5,5 --weight 1,1,2,3 --padding same", id="conv2d-same"),
    pytest.param("conv1d --input 2,2,7 --weight 2,2,3 --stride 2 --padding valid", id="conv1d-stride-valid"),
]


@pytest.mark.parametrize("command", VERIFY)
def test_verify_passes(command):
    result = invoke("verify " + command)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout
    for name in ("y", "dx", "dw", "db"):
        assert any(line.split()[:1] == [name] and line.rstrip().endswith("ok") for line in out.splitlines()), out
    assert "passed" in out
    assert "FAIL" not in out and "MISMATCH" not in out


def test_verify_without_bias_has_no_db_row():
    result = invoke("verify conv2d --input 1,1,4,4 --weight 1,1,2,2 --no-bias")
    assert result.exit_code == 0, result.stdout
    rows = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert "dx" in rows and "dw" in rows and "db" not in rows
    assert "passed" in result.stdout


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_verify_accepts_seed(seed):
    result = invoke(f"verify conv2d --input 1,2,4,4 --weight 2,2,2,2 --seed {seed}")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"seed {seed}" in result.stdout
    assert "passed" in result.stdout


def test_verify_exits_1_on_mismatch(monkeypatch):
    import symconv.engine.derive

    real_derive = symconv.engine.derive.derive

    def wrong_derive(spec, **kwargs):
        derivation = real_derive(spec, **kwargs)
        dx = dict(derivation.gradients["dx"].items())  # tables are read-only
        first = next(iter(dx))
        dx[first] = 2 * dx[first] + 1
        derivation.gradients["dx"] = dx
        return derivation

    monkeypatch.setattr(symconv.engine.derive, "derive", wrong_derive)
    result = invoke("verify conv2d --input 1,1,4,4 --weight 1,1,2,2")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout
    assert "MISMATCH" in result.stdout
    assert result.stdout.rstrip().endswith("MISMATCH: some checks failed")
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------
# --help, --version, the console script
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param("--help", id="group"),
        pytest.param("-h", id="group-short"),
        pytest.param("derive --help", id="derive"),
        pytest.param("verify --help", id="verify"),
    ],
)
def test_help_has_an_example_line(args):
    result = invoke(args)
    assert result.exit_code == 0, result.stderr
    examples = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("symconv ")]
    assert examples, result.stdout
    # every example is itself a valid command line for this CLI
    for example in examples:
        command = shlex.split(example)[1:]
        assert command[0] in ("derive", "verify")


@pytest.mark.parametrize("command", ["derive", "verify"])
def test_help_lists_every_layer_option(command):
    out = invoke(f"{command} --help").stdout
    for option in ("--input", "--weight", "--stride", "--padding", "--dilation", "--groups", "--no-bias",
                   "--max-terms"):
        assert option in out
    own = {"derive": ("--format", "--index-base", "--standalone", "--output"), "verify": ("--seed",)}[command]
    for option in own:
        assert option in out


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert symconv.__version__ in result.stdout


def _console_script() -> Path:
    bin_dir = Path(sys.executable).parent
    for name in ("symconv", "symconv.exe"):
        if (bin_dir / name).exists():
            return bin_dir / name
    pytest.skip(f"no symconv console script next to {sys.executable} (pip install -e . makes one)")


def test_console_script_version():
    script = _console_script()
    assert os.access(script, os.X_OK)
    completed = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr
    assert symconv.__version__ in completed.stdout
    assert "symconv" in completed.stdout


def test_console_script_refusal_has_no_traceback():
    completed = subprocess.run(
        [str(_console_script()), "derive", "conv2d", "--input", "1,a,4,4", "--weight", "1,1,2,2"],
        capture_output=True, text=True, timeout=30,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert "input" in completed.stderr and "1,a,4,4" in completed.stderr


def test_console_script_help_names_the_program():
    completed = subprocess.run([str(_console_script()), "--help"], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0
    assert completed.stdout.startswith("Usage: symconv")


def test_importing_the_cli_does_not_load_sympy():
    completed = subprocess.run(
        [sys.executable, "-c", "import sys, symconv.cli.app; print('sympy' in sys.modules, 'numpy' in sys.modules)"],
        capture_output=True, text=True, timeout=30,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["False", "False"]
