"""The command line for pooling, activation and stack layers: derive, verify,
the JSON contract, the config table (each row must verify and match
PyTorch), and one-line refusals of bad input."""

from __future__ import annotations

import json
import re
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import IndexedBase, Rational
from sympy.parsing.sympy_parser import parse_expr

from symconv.cli.app import cli

NAMES = {name: IndexedBase(name) for name in ("x", "dy", "y", "dx")}
KEY = re.compile(r"^([a-z]+)\[([0-9, ]+)\]$")


def invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.stderr == ""
    return result.stdout


def cli_args(kind, shape, options):
    """Options as the command line spells them."""
    args = [kind, "--input", ",".join(map(str, shape))]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if name == "ceil_mode":
            args += [flag] if value else []
        elif name == "count_include_pad":
            args += [] if value else ["--no-count-include-pad"]
        else:
            args += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return args


def torch_pool(torch, kind, x, dy, options, reduction="sum"):
    F = torch.nn.functional
    xt = torch.tensor(np.asarray(x, dtype=float), dtype=torch.float64, requires_grad=True)
    kernel = list(options["kernel"]) if isinstance(options["kernel"], tuple) else options["kernel"]
    kw = {"stride": options.get("stride"), "padding": options.get("padding", 0),
          "ceil_mode": options.get("ceil_mode", False)}
    if kind.startswith("max"):
        pool = F.max_pool1d if kind == "maxpool1d" else F.max_pool2d
        y = pool(xt, kernel, dilation=options.get("dilation", 1), **kw)
    elif kind == "avgpool2d":
        y = F.avg_pool2d(xt, kernel, count_include_pad=options.get("count_include_pad", True),
                         divisor_override=options.get("divisor_override"), **kw)
    else:  # avg_pool1d has no divisor_override: a unit height lifts it to avg_pool2d
        stride = kw["stride"]
        y = F.avg_pool2d(xt.unsqueeze(2), (1, kernel), stride=None if stride is None else (1, stride),
                         padding=(0, kw["padding"]), ceil_mode=kw["ceil_mode"],
                         count_include_pad=options.get("count_include_pad", True),
                         divisor_override=options.get("divisor_override")).squeeze(2)
    loss = (y * torch.tensor(np.asarray(dy, dtype=float), dtype=torch.float64)).sum()
    if reduction == "mean":
        loss = loss / x.shape[0]
    loss.backward()
    return y.detach().numpy(), xt.grad.numpy()


def evaluate_json(table, shape, name, values):
    out = np.zeros(shape)
    seen = set()
    for key, text in table.items():
        match = KEY.match(key)
        assert match and match.group(1) == name, key
        index = tuple(int(i) for i in match.group(2).split(","))
        value = parse_expr(text, local_dict=dict(NAMES)).xreplace(values)
        assert value.is_Rational, (key, value)
        out[index] = float(value)
        seen.add(index)
    assert seen == set(np.ndindex(*shape))
    return out


def substitution(x, dy):
    values = {NAMES["x"][i]: Rational(int(x[i])) for i in np.ndindex(*x.shape)}
    values.update({NAMES["dy"][i]: Rational(int(dy[i])) for i in np.ndindex(*dy.shape)})
    return values


# --------------------------------------------------------------------------
# The config table: every row verifies (exit 0) and matches PyTorch.
# --------------------------------------------------------------------------

CONFIGS = [
    pytest.param("maxpool2d", (1, 1, 4, 4), {"kernel": 2, "stride": 2}, "sum", id="max-2x2-s2"),
    pytest.param("maxpool2d", (1, 1, 4, 4), {"kernel": 3, "stride": 1}, "sum",
                 id="max-3x3-s1-overlapping", marks=pytest.mark.slow),
    pytest.param("maxpool2d", (1, 1, 5, 5), {"kernel": 3, "stride": 2, "padding": 1}, "sum",
                 id="max-3x3-s2-p1", marks=pytest.mark.slow),
    pytest.param("maxpool2d", (1, 1, 5, 5), {"kernel": 2, "stride": 1, "dilation": 2}, "sum", id="max-dilation-2"),
    pytest.param("maxpool2d", (1, 1, 5, 5), {"kernel": 2, "stride": 2, "ceil_mode": True}, "sum",
                 id="max-ceil-H5-k2-s2"),
    pytest.param("maxpool2d", (2, 3, 4, 4), {"kernel": 2}, "sum", id="max-N2-C3",
                 marks=pytest.mark.slow),
    pytest.param("maxpool2d", (2, 1, 4, 4), {"kernel": 2}, "mean", id="max-N2-mean"),
    pytest.param("maxpool1d", (2, 2, 7), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}, "sum",
                 id="max-1d-k3-s2-p1-ceil"),
    pytest.param("maxpool1d", (1, 1, 9), {"kernel": 3, "padding": 1, "dilation": 2}, "sum", id="max-1d-dilation-2"),
    pytest.param("avgpool2d", (1, 1, 5, 5), {"kernel": 3, "stride": 2, "padding": 1}, "sum",
                 id="avg-count-include-pad"),
    pytest.param("avgpool2d", (1, 1, 5, 5), {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False},
                 "sum", id="avg-no-count-include-pad"),
    pytest.param("avgpool2d", (1, 1, 4, 4), {"kernel": 2, "stride": 1, "divisor_override": 3}, "sum",
                 id="avg-divisor-override"),
    pytest.param("avgpool2d", (2, 2, 5, 5), {"kernel": 2, "ceil_mode": True}, "sum", id="avg-ceil-N2-C2"),
    pytest.param("avgpool2d", (3, 1, 4, 4), {"kernel": (2, 3), "stride": 1, "padding": (1, 1)}, "mean",
                 id="avg-rect-N3-mean"),
    pytest.param("avgpool1d", (2, 1, 6), {"kernel": 3, "stride": 1, "padding": 1, "count_include_pad": False},
                 "sum", id="avg-1d-no-count-include-pad"),
    pytest.param("avgpool1d", (1, 2, 5), {"kernel": 2, "divisor_override": 5, "ceil_mode": True}, "sum",
                 id="avg-1d-divisor-ceil"),
]


@pytest.mark.parametrize("kind, shape, options, reduction", CONFIGS)
def test_config_table_passes_symconv_verify(kind, shape, options, reduction):
    report = ok(invoke(["verify"] + cli_args(kind, shape, options) + ["--reduction", reduction]))
    assert report.rstrip().endswith("all checks passed")
    for tensor in ("y", "dx"):
        assert re.search(rf"^{tensor}\s.*\bequal\s+ok$", report, re.MULTILINE), report
    assert ("mean reduction" in report.splitlines()[0]) == (reduction == "mean")


@pytest.mark.parametrize("kind, shape, options, reduction", CONFIGS)
def test_config_table_json_matches_torch(kind, shape, options, reduction):
    torch = pytest.importorskip("torch")
    args = cli_args(kind, shape, options) + ["--reduction", reduction]
    data = json.loads(ok(invoke(["derive"] + args + ["--format", "json"])))
    assert set(data["gradients"]) == {"dx"} and data["layer"]["reduction"] == reduction
    out_shape = tuple(data["shapes"]["y"])
    rng = np.random.default_rng(zlib.crc32(repr((kind, shape, options)).encode()))
    # Random small integers (ties), a constant input (all tied), 0/1 inputs.
    for x in (rng.integers(-3, 4, size=shape), np.full(shape, 4), rng.integers(0, 2, size=shape)):
        dy = rng.integers(-9, 10, size=out_shape)
        values = substitution(x, dy)
        y_torch, dx_torch = torch_pool(torch, kind, x, dy, options, reduction)
        assert out_shape == y_torch.shape
        np.testing.assert_allclose(evaluate_json(data["forward"], out_shape, "y", values), y_torch,
                                   rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(evaluate_json(data["gradients"]["dx"], shape, "dx", values), dx_torch,
                                   rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------
# derive and verify for every new layer kind and format.
# --------------------------------------------------------------------------

KINDS = [
    pytest.param(["maxpool1d", "--input", "1,1,4", "--kernel", "2"], id="maxpool1d"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "2"], id="maxpool2d"),
    pytest.param(["avgpool1d", "--input", "1,1,4", "--kernel", "2", "--padding", "1"], id="avgpool1d"),
    pytest.param(["avgpool2d", "--input", "1,1,4,4", "--kernel", "2", "--no-count-include-pad"], id="avgpool2d"),
    pytest.param(["relu", "--input", "1,1,2,2"], id="relu"),
    pytest.param(["leaky_relu", "--input", "1,2,3", "--negative-slope", "1/100"], id="leaky_relu"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers",
                  "conv2d(weight=1,1,3,3, padding=1) | relu | maxpool2d(kernel=2)"], id="stack"),
]


@pytest.mark.parametrize("fmt", ["latex", "markdown", "text", "json"])
@pytest.mark.parametrize("args", KINDS)
def test_derive_every_new_kind_in_every_format(args, fmt):
    out = ok(invoke(["derive"] + args + ["--format", fmt]))
    assert out.strip()
    if fmt == "json":
        data = json.loads(out)
        assert data["layer"]["kind"] == args[0]
        expected = ({"dh2", "dh1", "dx", "dw1", "db1"} if args[0] == "stack" else {"dx"})
        assert set(data["gradients"]) == expected
        assert all(isinstance(v, str) for table in data["gradients"].values() for v in table.values())
    if fmt in ("latex", "markdown"):
        assert r"\mathbb{1}" not in out and "Piecewise" not in out


@pytest.mark.parametrize("args", KINDS)
def test_verify_every_new_kind(args):
    report = ok(invoke(["verify"] + args))
    lines = report.splitlines()
    assert lines[1].split() == ["tensor", "vs", "reference", "vs", "finite", "diff", "exact", "result"]
    assert set(lines[2]) <= {"-", " "}
    assert lines[-1].endswith("all checks passed")
    assert "dx" in [line.split()[0] for line in lines[3:-1]]


def test_pool_json_contract_from_the_cli():
    data = json.loads(ok(invoke(["derive", "maxpool2d", "--input", "1,2,4,4", "--kernel", "2", "--format", "json"])))
    assert list(data) == ["layer", "shapes", "forward", "gradients"]
    assert list(data["gradients"]) == ["dx"]
    assert data["shapes"] == {"x": [1, 2, 4, 4], "y": [1, 2, 2, 2]}
    assert len(data["forward"]) == 8 and len(data["gradients"]["dx"]) == 32
    assert data["layer"]["kernel"] == [2, 2] and data["layer"]["stride"] == [2, 2]
    assert data["forward"]["y[0, 1, 0, 0]"].count("Piecewise") == 4


def test_json_ignores_the_index_base():
    zero = ok(invoke(["derive", "avgpool1d", "--input", "1,1,4", "--kernel", "2", "--format", "json"]))
    one = ok(invoke(["derive", "avgpool1d", "--input", "1,1,4", "--kernel", "2", "--format", "json",
                     "--index-base", "1"]))
    assert zero == one and '"dx[0, 0, 0]"' in zero


def test_max_pool_latex_from_the_cli_reads_like_the_seeds():
    out = ok(invoke(["derive", "maxpool2d", "--input", "1,1,4,4", "--kernel", "2", "--index-base", "1"]))
    assert r"y_{11} &= \max(x_{11}, x_{12}, x_{21}, x_{22})" in out
    assert r"\frac{\partial L}{\partial x_{12}} &= dy_{11}\,[x_{12} = m_{11}]" in out
    for banned in (">", r"\geq", r"\mathbb{1}"):
        assert banned not in out


def test_text_and_markdown_for_a_pool():
    text = ok(invoke(["derive", "maxpool1d", "--input", "1,1,4", "--kernel", "2", "--stride", "1",
                      "--format", "text", "--index-base", "1"]))
    assert "y[1] = max(x[1], x[2])" in text
    assert "dx[2] = dy[1]*[x[2] = m[1]] + dy[2]*[x[2] = m[2]]" in text
    markdown = ok(invoke(["derive", "avgpool1d", "--input", "1,1,4", "--kernel", "2", "--format", "markdown"]))
    assert markdown.startswith("# avgpool1d") and "$$" in markdown and r"\frac{1}{2}" in markdown


def test_mean_reduction_is_announced():
    text = ok(invoke(["derive", "relu", "--input", "2,1,2", "--format", "text", "--reduction", "mean"]))
    assert "divided by N = 2" in text
    report = ok(invoke(["verify", "relu", "--input", "2,1,2", "--reduction", "mean"]))
    assert "mean reduction" in report.splitlines()[0]


def test_output_file(tmp_path):
    path = tmp_path / "pool.tex"
    assert ok(invoke(["derive", "maxpool2d", "--input", "1,1,2,2", "--kernel", "2", "-o", str(path)])) == ""
    assert r"\max(" in path.read_text()


# --------------------------------------------------------------------------
# Stacks on the command line.
# --------------------------------------------------------------------------

STACK_TEXT = "conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2) | conv2d(weight=1,2,2,2)"


def test_stack_from_a_json_file_prints_the_same(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"layers": [
        {"kind": "conv2d", "weight": [2, 1, 3, 3], "padding": 1}, {"kind": "relu"},
        {"kind": "maxpool2d", "kernel": 2}, {"kind": "conv2d", "weight": [1, 2, 2, 2]}]}))
    from_text = ok(invoke(["derive", "stack", "--input", "1,1,4,4", "--layers", STACK_TEXT, "--format", "json"]))
    from_file = ok(invoke(["derive", "stack", "--input", "1,1,4,4", "--layers", str(path), "--format", "json"]))
    assert from_text == from_file


def test_stack_latex_shows_the_chain():
    out = ok(invoke(["derive", "stack", "--input", "1,1,4,4", "--layers", STACK_TEXT, "--standalone"]))
    chain = out[out.index(r"\subsection*{The chain}"):]
    chain = chain[:chain.index(r"\end{align*}")]
    assert r"\operatorname{rot180}(w^{(2)})" in chain and r"\operatorname{rot180}(w^{(1)})" in chain
    assert r"\odot [h^{(1)} > 0]" in chain and r"\operatorname{maxunpool}" in chain


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_verify_stack(reduction):
    report = ok(invoke(["verify", "stack", "--input", "2,1,4,4", "--layers", STACK_TEXT, "--reduction", reduction]))
    rows = {line.split()[0]: line for line in report.splitlines()[3:-1]}
    assert {"h1", "h2", "h3", "y", "dh3", "dw2", "db2", "dh2", "dh1", "dx", "dw1", "db1"} <= set(rows)
    assert all(row.endswith("ok") for row in rows.values())
    assert ("mean reduction" in report.splitlines()[0]) == (reduction == "mean")
    assert report.rstrip().endswith("all checks passed")


# --------------------------------------------------------------------------
# Bad input: exit 2, one line on stderr naming the parameter and the value.
# --------------------------------------------------------------------------

BAD = [
    pytest.param(["maxpool2d", "--input", "1,1,6,6", "--kernel", "3", "--padding", "2"], ["padding", "'2'", "3 // 2"],
                 id="padding-over-half-kernel"),
    pytest.param(["avgpool1d", "--input", "1,1,6", "--kernel", "2", "--padding", "2"], ["padding", "'2'"],
                 id="avg-padding-over-half-kernel"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "5"], ["kernel", "'5'"],
                 id="kernel-larger-than-input"),
    pytest.param(["maxpool2d", "--input", "1,1,1,1", "--kernel", "4", "--padding", "1"], ["kernel", "'4'"],
                 id="kernel-larger-than-padded-input"),
    pytest.param(["avgpool2d", "--input", "1,1,4,4", "--kernel", "2", "--stride", "0"], ["stride", "'0'"],
                 id="stride-0"),
    pytest.param(["maxpool1d", "--input", "1,1,4", "--kernel", "2", "--stride", "1,0"], ["stride", "'1,0'"],
                 id="stride-two-values-1d"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4"], ["kernel", "got nothing"], id="kernel-missing"),
    pytest.param(["avgpool1d", "--input", "1,1,4"], ["kernel", "got nothing"], id="kernel-missing-avg"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "2", "--weight", "1,1,2,2"], ["weight", "1,1,2,2"],
                 id="weight-given-to-pool"),
    pytest.param(["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--kernel", "2"], ["kernel", "'2'"],
                 id="kernel-given-to-conv"),
    pytest.param(["relu", "--input", "1,1,4,4", "--layers", "relu"], ["layers", "'relu'"], id="layers-given-to-relu"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "2", "--layers", "relu"], ["layers", "'relu'"],
                 id="layers-given-to-pool"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers", "relu | softmax"], ["layer 2", "'softmax'"],
                 id="unknown-layer-in-stack"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers", "conv2d(weight=2,1,3,3) | conv2d(weight=1,3,1,1)"],
                 ["layer 2 (conv2d)", "weight", "'1,3,1,1'"], id="stack-shapes-do-not-chain"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers", "maxpool2d(kernel=2) | maxpool2d(kernel=3)"],
                 ["layer 2 (maxpool2d)", "kernel", "'3'"], id="stack-kernel-too-large-for-layer-2"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers", "__import__('os')"], ["layers", "__import__"],
                 id="stack-garbage"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers", "relu |"], ["layers", "'relu |'"],
                 id="stack-trailing-pipe"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers", ""], ["layers"], id="stack-empty-layers"),
    pytest.param(["stack", "--input", "1,1,4,4"], ["layers", "got nothing"], id="stack-without-layers"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers", "relu", "--kernel", "2"], ["kernel"],
                 id="stack-with-a-layer-option"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers", "maxpool2d(kernel=2, kernel=2)"], ["kernel twice"],
                 id="stack-option-twice"),
    pytest.param(["leaky_relu", "--input", "1,1,4", "--negative-slope", "abc"], ["negative-slope", "'abc'"],
                 id="bad-negative-slope"),
    pytest.param(["leaky_relu", "--input", "1,1,4", "--negative-slope", "1/0"], ["negative-slope", "'1/0'"],
                 id="negative-slope-1/0"),
    pytest.param(["relu", "--input", "1,1,4", "--negative-slope", "0.1"], ["negative-slope", "'0.1'"],
                 id="negative-slope-given-to-relu"),
    pytest.param(["avgpool2d", "--input", "1,1,4,4", "--kernel", "2", "--divisor-override", "0"],
                 ["divisor-override", "0"], id="divisor-override-0"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "2", "--divisor-override", "2"],
                 ["divisor-override", "'2'"], id="divisor-override-given-to-maxpool"),
    pytest.param(["avgpool2d", "--input", "1,1,4,4", "--kernel", "2", "--dilation", "2"], ["dilation", "'2'"],
                 id="dilation-2-for-avgpool"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "2", "--no-count-include-pad"],
                 ["no-count-include-pad"], id="count-include-pad-given-to-maxpool"),
    pytest.param(["relu", "--input", "1,1,4", "--ceil-mode"], ["ceil-mode"], id="ceil-mode-given-to-relu"),
    pytest.param(["maxpool1d", "--input", "1,1,4,4", "--kernel", "2"], ["input", "'1,1,4,4'"], id="1d-pool-4d-input"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "2", "--reduction", "avg"], ["reduction", "avg"],
                 id="unknown-reduction"),
]


@pytest.mark.parametrize("command", ["derive", "verify"])
@pytest.mark.parametrize("args, fragments", BAD)
def test_bad_input_is_one_line_on_stderr_and_exit_2(command, args, fragments):
    result = invoke([command] + args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_window_of_padding_only_does_not_fail_verification():
    result = invoke(["verify", "maxpool1d", "--input", "1,1,1", "--kernel", "2", "--stride", "1", "--padding", "1",
                     "--dilation", "2"])
    assert result.exit_code in (0, 2), result.stdout


@pytest.mark.parametrize("args", [
    pytest.param(["relu", "--input", "1,1,5,5"], id="relu-25-elements"),
    pytest.param(["leaky_relu", "--input", "1,1,3"], id="leaky-3-elements"),
])
def test_verify_activation_with_an_odd_number_of_elements(args):
    report = ok(invoke(["verify"] + args))
    assert report.rstrip().endswith("all checks passed")


# --------------------------------------------------------------------------
# Absurd sizes: every integer option of every layer kind is bounded by
# 2**31 - 1 and refused in one line, before any arithmetic can overflow.
# --------------------------------------------------------------------------

BOUND = "at most 2147483647 (2**31 - 1)"
BASE = {
    "conv1d": {"input": "1,1,4", "weight": "1,1,2"},
    "conv2d": {"input": "1,1,4,4", "weight": "1,1,2,2"},
    "maxpool1d": {"input": "1,1,4", "kernel": "2"},
    "maxpool2d": {"input": "1,1,4,4", "kernel": "2"},
    "avgpool1d": {"input": "1,1,4", "kernel": "2"},
    "avgpool2d": {"input": "1,1,4,4", "kernel": "2"},
    "relu": {"input": "1,1,4"},
    "leaky_relu": {"input": "1,1,4,4"},
}
#: The integer options of each kind (with a value of the right length for 2-D).
INTEGER_OPTIONS = {
    "conv1d": ("input", "weight", "stride", "padding", "dilation", "groups"),
    "conv2d": ("input", "weight", "stride", "padding", "dilation", "groups"),
    "maxpool1d": ("input", "kernel", "stride", "padding", "dilation"),
    "maxpool2d": ("input", "kernel", "stride", "padding", "dilation"),
    "avgpool1d": ("input", "kernel", "stride", "padding", "divisor-override"),
    "avgpool2d": ("input", "kernel", "stride", "padding", "divisor-override"),
    "relu": ("input",),
    "leaky_relu": ("input",),
}


def _with_huge(kind, option, huge):
    """The layer's options as text, with ``huge`` in the last place of ``option``."""
    options = dict(BASE[kind])
    if option in options:
        options[option] = options[option].rsplit(",", 1)[0] + "," + huge if "," in options[option] else huge
    else:
        options[option] = ("1," + huge) if kind.endswith("2d") and option not in ("groups", "divisor-override") else huge
    return options


HUGE_CASES = [
    pytest.param(kind, option, huge, id=f"{kind}-{option}-{'20-digits' if len(huge) > 10 else '2**31'}")
    for kind, options in INTEGER_OPTIONS.items() for option in options
    for huge in ("99999999999999999999", "2147483648")
]


@pytest.mark.parametrize("command", ["derive", "verify"])
@pytest.mark.parametrize("kind, option, huge", HUGE_CASES)
def test_absurd_integers_are_refused_in_one_line(command, kind, option, huge):
    options = _with_huge(kind, option, huge)
    args = [command, kind] + [a for name, value in options.items() for a in ("--" + name, value)]
    result = invoke(args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    assert result.stderr == f"Error: {option}: got {options[option]!r}, expected integers of {BOUND}\n"


@pytest.mark.parametrize("kind, option, huge", HUGE_CASES)
def test_absurd_integers_inside_a_stack_are_refused_naming_the_layer(kind, option, huge):
    options = _with_huge(kind, option, huge)
    shape = options.pop("input")
    inside = ", ".join(f"{name}={value}" for name, value in options.items())
    result = invoke(["derive", "stack", "--input", shape, "--layers", f"{kind}({inside})" if inside else kind])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    # the stack's own --input is read before its layers; the rest inside them
    assert lines[0].startswith("Error: input: " if option == "input" else "Error: layers: layer 1 "), lines[0]
    assert f"{option}: got " in lines[0] and huge in lines[0] and lines[0].endswith(BOUND)


@pytest.mark.parametrize("args, message", [
    pytest.param(["verify", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--seed", "-1"],
                 "Error: Invalid value for '--seed': -1 is not in the range x>=0.", id="seed-negative"),
    pytest.param(["verify", "stack", "--input", "1,1,4,4", "--layers", "conv2d(weight=1,1,2,2)", "--seed", "-1"],
                 "Error: Invalid value for '--seed': -1 is not in the range x>=0.", id="stack-seed-negative"),
    pytest.param(["derive", "relu", "--input", "1,1,4", "--max-terms", "99999999999999999999"],
                 "Error: Invalid value for '--max-terms': 99999999999999999999 is not in the range "
                 "1<=x<=2147483647.", id="max-terms-huge"),
    pytest.param(["derive", "leaky_relu", "--input", "1,1,4", "--negative-slope", "1e400"],
                 "Error: negative-slope: got '1e400', expected a number a float64 can hold (below 1.8e308 in "
                 "size), as PyTorch's negative_slope is one", id="slope-beyond-float64"),
    pytest.param(["derive", "leaky_relu", "--input", "1,1,4", "--negative-slope", "1e999999999"],
                 "Error: negative-slope: got '1e999999999', expected a number such as 0.01, 1e-2 (an exponent of "
                 "at most three digits) or 1/100", id="slope-exponent-too-long"),
    pytest.param(["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--stride", "9" * 5000],
                 "Error: stride: got '9999999999999999999999999999999999999999... (5000 characters)', expected "
                 "integers of " + BOUND, id="stride-5000-digits"),
    pytest.param(["derive", "conv2d", "--input", "1,1,3000,3000", "--weight", "1,1,1,1", "--stride", "3000"],
                 "Error: max-terms: this layer needs 9,000,003 equations (one per element of every tensor and "
                 "gradient), over the limit 2,000,000; expected a smaller layer or a larger --max-terms",
                 id="mostly-zero-entries"),
    pytest.param(["derive", "conv1d", "--input", "1,1,2000000000", "--weight", "1,1,1000000000"],
                 "Error: max-terms: this layer needs about 3,000,000,005,000,000,002 terms, over the limit 2,000,000; "
                 "expected a smaller layer or a larger --max-terms", id="kernel-of-a-billion-taps"),
])
def test_other_absurd_values_are_refused_in_one_line(args, message):
    result = invoke(args)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    assert result.stderr == message + "\n"


# --------------------------------------------------------------------------
# Messages say in words what an option may be, naming the axes H,W or L.
# --------------------------------------------------------------------------

PER_AXIS_2D = "expected an integer or 2 comma-separated integers (one per axis H,W)"

WORDING = [
    pytest.param(["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--stride", "1.5"],
                 f"stride: got '1.5', {PER_AXIS_2D}", id="conv2d-stride"),
    pytest.param(["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--dilation", "1,2,3"],
                 f"dilation: got '1,2,3', {PER_AXIS_2D}", id="conv2d-dilation-3-values"),
    pytest.param(["conv1d", "--input", "1,1,4", "--weight", "1,1,2", "--stride", "1,2"],
                 "stride: got '1,2', expected an integer", id="conv1d-stride-2-values"),
    pytest.param(["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--padding", "full"],
                 "padding: got 'full', expected an integer, 2 comma-separated integers (one per axis H,W), "
                 "'same' or 'valid'", id="conv2d-padding-word"),
    pytest.param(["conv1d", "--input", "1,1,4", "--weight", "1,1,2", "--padding", "x"],
                 "padding: got 'x', expected an integer, 'same' or 'valid'", id="conv1d-padding-word"),
    pytest.param(["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--groups", "1,2"],
                 "groups: got '1,2', expected a positive integer", id="groups-two-values"),
    pytest.param(["conv2d", "--input", "1,1,4,4", "--weight", "1,1,5,2"],
                 "weight: got '1,1,5,2', whose extent 5 on axis H (dilation 1 x (K-1) + 1) is larger than the "
                 "padded input 4; expected a kernel that fits", id="conv-kernel-too-large"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "2", "--padding", "1.5"],
                 f"padding: got '1.5', {PER_AXIS_2D}", id="pool-padding-not-labelled-S"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "x"],
                 f"kernel: got 'x', {PER_AXIS_2D}", id="pool-kernel"),
    pytest.param(["maxpool1d", "--input", "1,1,4", "--kernel", "2", "--stride", "a"],
                 "stride: got 'a', expected an integer", id="pool1d-stride"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4", "--kernel", "2,5"],
                 "kernel: got '2,5', whose extent 5 on axis W (dilation 1 x (K-1) + 1) is larger than the "
                 "padded input 4; expected a kernel that fits", id="pool-kernel-too-large-names-W"),
    pytest.param(["avgpool1d", "--input", "1,1,4", "--kernel", "5"],
                 "kernel: got '5', whose extent 5 on axis L (dilation 1 x (K-1) + 1) is larger than the "
                 "padded input 4; expected a kernel that fits", id="pool1d-kernel-too-large-names-L"),
    pytest.param(["maxpool1d", "--input", "1,1,1", "--kernel", "2", "--stride", "1", "--padding", "1",
                  "--dilation", "2"],
                 "dilation: got '2' with padding '1', whose window 0 on axis L reads only padding; expected "
                 "every window to reach the input", id="pool-window-of-padding-names-L"),
    pytest.param(["avgpool2d", "--input", "1,1,4,4", "--kernel", "2", "--divisor-override", "1,2"],
                 "divisor-override: got '1,2', expected a positive integer", id="divisor-two-values"),
    pytest.param(["maxpool2d", "--input", "1,1,4,4"],
                 "kernel: got nothing, expected --kernel K or KH,KW for maxpool2d", id="kernel-missing"),
    pytest.param(["conv1d", "--input", "1,1,4"],
                 "weight: got nothing, expected --weight F,C/groups,K for conv1d", id="weight-missing"),
    pytest.param(["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2"],
                 "weight: got '1,1,2', expected 4 sizes F,C/groups,KH,KW for conv2d", id="weight-3-sizes"),
]


@pytest.mark.parametrize("args, message", WORDING)
def test_messages_name_what_was_expected_in_words(args, message):
    result = invoke(["derive"] + args)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr == f"Error: {message}\n"
    assert "comma-separated integers one" not in result.stderr and "S,S" not in result.stderr


# --------------------------------------------------------------------------
# A stack as JSON takes padding as the JSON output prints it: [before, after] pairs.
# --------------------------------------------------------------------------


def _stack_file(tmp_path, layers):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"layers": layers}))
    return str(path)


def test_json_stack_takes_padding_pairs_as_the_json_output_prints_them(tmp_path):
    text = ok(invoke(["derive", "stack", "--input", "1,1,5,6", "--layers",
                      "conv2d(weight=2,1,3,3, padding=1,0) | relu", "--format", "json"]))
    printed = json.loads(text)["layer"]["layers"][0]["padding"]
    assert printed == [[1, 1], [0, 0]]
    layers = [{"kind": "conv2d", "weight": [2, 1, 3, 3], "padding": printed}, {"kind": "relu"}]
    from_file = ok(invoke(["derive", "stack", "--input", "1,1,5,6", "--layers", _stack_file(tmp_path, layers),
                           "--format", "json"]))
    assert from_file == text


def test_json_stack_takes_uneven_padding_pairs(tmp_path):
    layers = [{"kind": "conv2d", "weight": [1, 1, 2, 2], "padding": [[0, 1], [1, 0]]}]
    data = json.loads(ok(invoke(["derive", "stack", "--input", "1,1,3,3", "--layers", _stack_file(tmp_path, layers),
                                 "--format", "json"])))
    assert data["layer"]["layers"][0]["padding"] == [[0, 1], [1, 0]]
    assert data["shapes"]["y"] == [1, 1, 3, 3]
    report = ok(invoke(["verify", "stack", "--input", "1,1,3,3", "--layers", _stack_file(tmp_path, layers)]))
    assert report.rstrip().endswith("all checks passed")


PAIR_PREFIX = "Error: layers: layer 1 (conv2d), applied to the input of shape 1,1,5,5: "


@pytest.mark.parametrize("padding, message", [
    pytest.param([[1, -1], [0, 0]], PAIR_PREFIX + "padding: got '[1,-1],[0,0]', expected non-negative integers",
                 id="negative"),
    pytest.param([[1, 1, 1], [0, 0]], PAIR_PREFIX + "padding: got '[1,1,1],[0,0]', expected per axis an integer "
                 "or a [before, after] pair of integers", id="triple"),
    pytest.param([[1, 1]], PAIR_PREFIX + "padding: got '[1,1]', expected an integer, 2 comma-separated integers "
                 "(one per axis H,W), one [before, after] pair per axis, 'same' or 'valid'", id="one-pair-for-2d"),
    pytest.param([[0, 2147483648], [0, 0]], PAIR_PREFIX + "padding: got '[0,2147483648],[0,0]', expected "
                 "integers of " + BOUND, id="over-the-bound"),
    pytest.param([[1.5, 1], [0, 0]], "Error: layers: layer 1 (conv2d): padding: got [[1.5, 1], [0, 0]], expected "
                 "a number, a string, true / false, a list of integers or, for padding, [before, after] pairs",
                 id="float-in-a-pair"),
    pytest.param([[True, 1], [0, 0]], "Error: layers: layer 1 (conv2d): padding: got [[true, 1], [0, 0]], expected "
                 "a number, a string, true / false, a list of integers or, for padding, [before, after] pairs",
                 id="boolean-in-a-pair"),
    pytest.param({"top": 1}, "Error: layers: layer 1 (conv2d): padding: got {\"top\": 1}, expected a number, a "
                 "string, true / false, a list of integers or, for padding, [before, after] pairs", id="object"),
])
def test_json_stack_refuses_bad_padding_pairs_in_one_line(tmp_path, padding, message):
    layers = [{"kind": "conv2d", "weight": [1, 1, 2, 2], "padding": padding}]
    result = invoke(["derive", "stack", "--input", "1,1,5,5", "--layers", _stack_file(tmp_path, layers)])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr == message + "\n"


def test_json_stack_refuses_padding_pairs_for_a_pool(tmp_path):
    layers = [{"kind": "maxpool2d", "kernel": 2, "padding": [[1, 1], [1, 1]]}]
    result = invoke(["derive", "stack", "--input", "1,1,4,4", "--layers", _stack_file(tmp_path, layers)])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: layers: layer 1 (maxpool2d), applied to the input of shape 1,1,4,4: padding: got '[1,1],[1,1]', "
        "expected one integer per axis, not [before, after] pairs (pooling pads both sides of an axis alike)\n"
    )


def test_json_null_means_not_given(tmp_path):
    layers = [{"kind": "avgpool2d", "kernel": 2, "divisor_override": None, "stride": None}]
    data = json.loads(ok(invoke(["derive", "stack", "--input", "1,1,4,4", "--layers", _stack_file(tmp_path, layers),
                                 "--format", "json"])))
    assert data["layer"]["layers"][0]["divisor_override"] is None
    assert data["layer"]["layers"][0]["stride"] == [2, 2]


@pytest.mark.parametrize("layers", [
    pytest.param("conv2d(weight=1,1,2,2, input=1,1,4,4)", id="text"),
    pytest.param([{"kind": "conv2d", "weight": [1, 1, 2, 2], "input": [1, 1, 4, 4]}], id="json"),
])
def test_a_layer_given_its_own_input_is_refused_in_one_line(tmp_path, layers):
    spec = layers if isinstance(layers, str) else _stack_file(tmp_path, layers)
    result = invoke(["derive", "stack", "--input", "1,1,4,4", "--layers", spec])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr == (
        "Error: layers: layer 1 (conv2d), applied to the input of shape 1,1,4,4: input: got '1,1,4,4', "
        "expected no input for conv2d (it takes: weight, stride, padding, padding-mode, dilation, groups, no-bias)\n"
    )
