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

from symconv.cli import cli

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
