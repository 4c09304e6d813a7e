"""--padding-mode zeros|reflect|replicate|circular, as torch.nn.Conv2d(padding_mode=...), in 1-D, 2-D and 3-D.

The padded entries are x's own entries, so their gradient flows back into x.
Expectations come from PyTorch (``torch.nn.ConvNd(padding_mode=...)`` and
``F.pad`` followed by the convolution), from NumPy's ``np.pad`` modes inside
the reference, or from a 1-D layer small enough to derive by hand.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

import symconv
from conftest import quick_first
from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.formula.operators import check_identities
from symconv.layers.conv import padded_source
from symconv.printing.documents import render
from symconv.reference import conv_backward, conv_forward
from symconv.spec.conv import conv_spec
from symconv.spec.options import build_spec
from symconv.spec.stack import parse_layers, stack_spec
from symconv.symbolic.tensors import element
from test_conv3d import assert_derivation_is_torchs, torch_conv

torch = pytest.importorskip("torch")
F = torch.nn.functional

MODES = ("reflect", "replicate", "circular")


def invoke(args):
    return CliRunner().invoke(cli, args)


# --------------------------------------------------------------------------
# Where a padded position's entry comes from: PyTorch's F.pad of the positions themselves
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_padded_source_is_pytorchs_pad_of_the_positions(mode):
    for size in range(1, 7):
        largest = size - 1 if mode == "reflect" else size if mode == "circular" else 2 * size + 1
        for before in range(largest + 1):
            for after in range(largest + 1):
                positions = torch.arange(float(size)).reshape(1, 1, size)
                want = F.pad(positions, (before, after), mode=mode).reshape(-1).long().tolist()
                got = padded_source(np.arange(-before, size + after), size, mode).tolist()
                assert got == want, (size, before, after)


# --------------------------------------------------------------------------
# The derivation against PyTorch: every mode, 1-D, 2-D and 3-D, every option
# --------------------------------------------------------------------------

#: (kind, input, weight, options): padding as the user gives it, symmetric or [before, after] pairs, or 'same'.
GRID = [
    ("conv1d", (1, 1, 5), (1, 1, 3), dict(padding=1)),
    ("conv1d", (2, 2, 4), (3, 2, 2), dict(padding=((3, 1),), stride=2)),
    ("conv1d", (1, 2, 6), (2, 1, 3), dict(padding="same", dilation=2, groups=2)),
    ("conv2d", (1, 1, 4, 4), (1, 1, 3, 3), dict(padding=1)),
    ("conv2d", (2, 2, 3, 5), (2, 2, 2, 3), dict(padding=((2, 1), (0, 3)), stride=(1, 2))),
    ("conv2d", (1, 4, 4, 3), (2, 2, 3, 2), dict(padding=(2, 1), dilation=(2, 1), groups=2, bias=False)),
    ("conv2d", (1, 1, 5, 4), (1, 1, 4, 2), dict(padding="same")),
    ("conv3d", (1, 1, 3, 3, 3), (1, 1, 2, 2, 2), dict(padding=1)),
    ("conv3d", (1, 2, 3, 4, 3), (2, 2, 3, 2, 2), dict(padding=((2, 0), (1, 3), (0, 2)), stride=(2, 1, 2))),
    ("conv3d", (1, 2, 4, 3, 3), (2, 1, 2, 3, 2), dict(padding="same", groups=2, dilation=(2, 1, 1))),
]

CASES = [(mode, case) for case in GRID for mode in MODES]


def case_id(mode_case):
    mode, (kind, shape, weight, options) = mode_case
    words = [kind, mode, "x".join(map(str, shape)), "w" + "x".join(map(str, weight))]
    return "-".join(words + [f"{k}={''.join(str(v).split())}" for k, v in options.items()])


@pytest.mark.parametrize("mode_case", quick_first(CASES, case_id))
def test_derivation_with_a_padding_mode_equals_pytorch(mode_case):
    mode, (kind, shape, weight, options) = mode_case
    spec = conv_spec(kind, shape, weight, padding_mode=mode, **options)
    padding = options["padding"]
    if padding == "same":
        padding = spec.padding  # PyTorch's functional 'same' pads with zeros; pad as nn.ConvNd does
    assert_derivation_is_torchs(spec, padding)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind, shape, weight, padding", [
    ("conv1d", (2, 3, 7), (4, 3, 3), 2),
    ("conv2d", (2, 3, 5, 6), (4, 3, 3, 2), (1, 2)),
    ("conv3d", (1, 2, 3, 4, 5), (2, 2, 2, 3, 3), (1, 1, 2)),
])
def test_padding_mode_matches_torch_nn_conv(mode, kind, shape, weight, padding):
    """PyTorch's own layer, nn.ConvNd(padding_mode=mode), not F.pad: forward and every gradient."""
    module = {"conv1d": torch.nn.Conv1d, "conv2d": torch.nn.Conv2d, "conv3d": torch.nn.Conv3d}[kind](
        shape[1], weight[0], weight[2:], padding=padding, padding_mode=mode, dtype=torch.float64)
    rng = np.random.default_rng(11)
    x = torch.tensor(rng.standard_normal(shape), requires_grad=True)
    y = module(x)
    dy = rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(dy))
    spec = conv_spec(kind, shape, weight, padding=padding, padding_mode=mode)
    d = derive(spec)
    values = {"x": x.detach().numpy(), "w": module.weight.detach().numpy(), "b": module.bias.detach().numpy(),
              "dy": dy}
    np.testing.assert_allclose(d.forward.evaluate(values), y.detach().numpy(), rtol=1e-10, atol=1e-10)
    for name, want in (("dx", x.grad), ("dw", module.weight.grad), ("db", module.bias.grad)):
        np.testing.assert_allclose(d.gradients[name].evaluate(values), want.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind, shape, weight", [("conv2d", (1, 2, 4, 5), (2, 2, 2, 3)),
                                                 ("conv3d", (1, 1, 3, 4, 3), (1, 1, 3, 2, 2))])
def test_same_padding_with_a_mode_is_torch_nn_convs(mode, kind, shape, weight):
    """nn.ConvNd(padding='same', padding_mode=mode) splits an odd total as symconv does (the extra cell after)."""
    module = {"conv2d": torch.nn.Conv2d, "conv3d": torch.nn.Conv3d}[kind](
        shape[1], weight[0], weight[2:], padding="same", padding_mode=mode, dtype=torch.float64)
    x = torch.tensor(np.random.default_rng(12).standard_normal(shape), requires_grad=True)
    y = module(x)
    y.backward(torch.ones_like(y))
    d = derive(conv_spec(kind, shape, weight, padding="same", padding_mode=mode))
    values = {"x": x.detach().numpy(), "w": module.weight.detach().numpy(), "b": module.bias.detach().numpy(),
              "dy": np.ones(tuple(y.shape))}
    np.testing.assert_allclose(d.forward.evaluate(values), y.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(d.gradients["dx"].evaluate(values), x.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(d.gradients["dw"].evaluate(values), module.weight.grad.numpy(), rtol=1e-10)


def test_several_dy_terms_meet_in_one_dx_entry():
    """conv1d, x of 3, w of 3, padding 1 replicate: the padded input is x0 x0 x1 x2 x2, so (by hand)
    y0 = w0 x0 + w1 x0 + w2 x1 and dx0 = dy0 w0 + dy0 w1 + dy1 w0."""
    d = derive(conv_spec("conv1d", (1, 1, 3), (1, 1, 3), padding=1, padding_mode="replicate"))
    x, w, dy, b = (lambda i, n=n: element(n, (0, 0, i)) for n in ("x", "w", "dy", "b"))
    assert d.forward[(0, 0, 0)] == w(0) * x(0) + w(1) * x(0) + w(2) * x(1) + element("b", (0,))
    assert d.gradients["dx"][(0, 0, 0)] == dy(0) * w(0) + dy(0) * w(1) + dy(1) * w(0)
    assert d.gradients["dx"][(0, 0, 2)] == dy(1) * w(2) + dy(2) * w(1) + dy(2) * w(2)
    assert d.gradients["dw"][(0, 0, 0)] == dy(0) * x(0) + dy(1) * x(0) + dy(2) * x(1)


@pytest.mark.parametrize("mode", ("zeros",) + MODES)
@pytest.mark.parametrize("kind, shape, weight, options", [
    ("conv1d", (1, 2, 4), (2, 2, 3), dict(padding=((2, 1),))),
    ("conv2d", (1, 1, 3, 4), (2, 1, 2, 3), dict(padding=(1, 2), stride=(2, 1))),
    ("conv3d", (1, 1, 2, 3, 3), (1, 1, 2, 2, 2), dict(padding=1, dilation=(1, 2, 1))),
])
def test_verify_proves_every_mode_exactly(mode, kind, shape, weight, options):
    report = symconv.verify(derive(conv_spec(kind, shape, weight, padding_mode=mode, **options)))
    assert report.passed, report.table()
    assert all(check.exact is True for check in report.checks)


@pytest.mark.parametrize("mode", ("zeros",) + MODES)
def test_size_guard_counts_the_padded_terms_exactly(mode):
    for kind, shape, weight, options in GRID:
        spec = conv_spec(kind, shape, weight, padding_mode=mode, **options)
        d = derive(spec)
        assert spec.estimate_terms() == d.forward.terms + sum(t.terms for t in d.gradients.values())


# --------------------------------------------------------------------------
# The NumPy reference: np.pad's modes, and the gradient folded back
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nd", (1, 2, 3))
def test_reference_with_a_padding_mode_equals_pytorch(mode, nd):
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((2, 4) + (6, 5, 4)[:nd])
    w, b = rng.standard_normal((6, 2) + (3, 2, 3)[:nd]), rng.standard_normal(6)
    options = dict(stride=(2, 1, 1)[:nd], padding=((2, 1), (1, 1), (3, 0))[:nd], dilation=(1, 2, 1)[:nd], groups=2)
    y, dy, dx, dw, db = torch_conv(x, w, b, padding_mode=mode, **options)
    np.testing.assert_allclose(conv_forward(x, w, b, padding_mode=mode, **options), y, rtol=1e-10, atol=1e-10)
    for got, want in zip(conv_backward(dy, x, w, padding_mode=mode, **options), (dx, dw, db)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_reference_with_a_padding_mode_is_exact_on_fractions(mode):
    rng = np.random.default_rng(2)

    def fractions(shape):
        return np.array([Fraction(int(rng.integers(-9, 10)), int(rng.integers(1, 6)))
                         for _ in range(int(np.prod(shape)))], dtype=object).reshape(shape)

    x, w = fractions((1, 2, 3, 4)), fractions((2, 2, 2, 3))
    options = dict(padding=((2, 1), (1, 3)), padding_mode=mode)
    y = conv_forward(x, w, **options)
    dy = fractions(y.shape)
    assert all(isinstance(v, Fraction) for v in y.flat)
    np.testing.assert_allclose(y.astype(float), conv_forward(x.astype(float), w.astype(float), **options))
    for exact, approx in zip(conv_backward(dy, x, w, **options),
                             conv_backward(dy.astype(float), x.astype(float), w.astype(float), **options)):
        assert all(isinstance(v, (int, Fraction)) for v in exact.flat)
        np.testing.assert_allclose(exact.astype(float), approx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode, padding, message", [
    ("reflect", 3, "reflect padding must be smaller than the input size 3"),
    ("circular", 4, "circular padding must be at most the input size 3"),
    ("mirror", 1, "padding_mode: expected 'zeros', 'reflect', 'replicate' or 'circular', got 'mirror'"),
])
def test_reference_refuses_what_pytorch_refuses(mode, padding, message):
    with pytest.raises(ValueError, match=message):
        conv_forward(np.zeros((1, 1, 3)), np.zeros((1, 1, 2)), padding=padding, padding_mode=mode)


# --------------------------------------------------------------------------
# Spec, JSON, CLI, stacks
# --------------------------------------------------------------------------


@pytest.mark.parametrize("given, mode", [("zeros", "zeros"), ("reflect", "reflect"), (" Replicate ", "replicate"),
                                         ("CIRCULAR", "circular")])
def test_padding_mode_is_read_and_kept(given, mode):
    spec = build_spec("conv2d", "1,1,4,4", weight="1,1,3,3", padding="same", padding_mode=given)
    assert spec.padding_mode == mode and spec.padding_string == "same" and spec.padding == ((1, 1), (1, 1))
    assert spec.to_dict()["padding_mode"] == mode and spec.to_dict()["padding_string"] == "same"


BAD = [
    pytest.param("conv1d", "1,1,3", dict(weight="1,1,2", padding="3", padding_mode="reflect"),
                 "padding: got '3' with padding-mode reflect, expected at most 2 on axis L of size 3 (reflect "
                 "mirrors the input without repeating its edge, so the padding must be smaller than the input, "
                 "as in PyTorch)", id="reflect-too-large"),
    pytest.param("conv3d", "1,1,4,2,4", dict(weight="1,1,2,2,2", padding="1,2,1", padding_mode="reflect"),
                 "padding: got '1,2,1' with padding-mode reflect, expected at most 1 on axis H of size 2 (reflect "
                 "mirrors the input without repeating its edge, so the padding must be smaller than the input, "
                 "as in PyTorch)", id="reflect-too-large-3d-H"),
    pytest.param("conv2d", "1,1,5,5", dict(weight="1,1,3,3", padding="same", padding_mode="reflect", dilation="5"),
                 "padding: got 'same' with padding-mode reflect, expected at most 4 on axis H of size 5 (reflect "
                 "mirrors the input without repeating its edge, so the padding must be smaller than the input, "
                 "as in PyTorch)", id="reflect-same-too-wide"),
    pytest.param("conv2d", "1,1,2,3", dict(weight="1,1,2,2", padding="3", padding_mode="circular"),
                 "padding: got '3' with padding-mode circular, expected at most 2 on axis H of size 2 (circular "
                 "padding may wrap around the input at most once, as in PyTorch)", id="circular-too-large"),
    pytest.param("conv2d", "1,1,4,4", dict(weight="1,1,2,2", padding_mode="mirror"),
                 "padding-mode: got 'mirror', expected zeros, reflect, replicate or circular", id="unknown-mode"),
    pytest.param("conv2d", "1,1,4,4", dict(weight="1,1,2,2", padding_mode=""),
                 "padding-mode: got '', expected zeros, reflect, replicate or circular", id="empty-mode"),
    pytest.param("maxpool2d", "1,1,4,4", dict(kernel="2", padding_mode="reflect"),
                 "padding-mode: got 'reflect', expected no padding-mode for maxpool2d (it takes: kernel, stride, "
                 "padding, dilation, ceil-mode)", id="on-a-max-pool"),
    pytest.param("avgpool1d", "1,1,4", dict(kernel="2", padding_mode="zeros"),
                 "padding-mode: got 'zeros', expected no padding-mode for avgpool1d (it takes: kernel, stride, "
                 "padding, ceil-mode, no-count-include-pad, divisor-override)", id="on-an-avg-pool"),
    pytest.param("relu", "1,1,4", dict(padding_mode="circular"),
                 "padding-mode: got 'circular', expected no padding-mode for relu (it takes: no options)",
                 id="on-relu"),
]


@pytest.mark.parametrize("kind, shape, options, message", BAD)
def test_bad_padding_mode_is_refused_in_one_line(kind, shape, options, message):
    with pytest.raises(SymconvError) as raised:
        build_spec(kind, shape, **options)
    assert str(raised.value) == message


def test_replicate_takes_any_padding():
    spec = conv_spec("conv1d", (1, 1, 2), (1, 1, 2), padding=5, padding_mode="replicate")
    assert spec.output_shape == (1, 1, 11)
    assert symconv.verify(derive(spec)).passed


def test_cli_padding_mode_end_to_end():
    result = invoke(["derive", "conv2d", "--input", "1,1,3,3", "--weight", "1,1,2,2", "--padding", "1",
                     "--padding-mode", "circular", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["layer"]["padding_mode"] == "circular" and data["layer"]["padding_string"] is None
    # circular: the padded row -1 is x's last row, so x[0, 0, 2, 2] feeds y[0, 0, 0, 0] through w[0, 0, 0, 0]
    assert "w[0, 0, 0, 0]*x[0, 0, 2, 2]" in data["forward"]["y[0, 0, 0, 0]"]
    verified = invoke(["verify", "conv2d", "--input", "1,1,3,3", "--weight", "1,1,2,2", "--padding", "1",
                       "--padding-mode", "circular"])
    assert verified.exit_code == 0 and "padding_mode circular" in verified.output


@pytest.mark.parametrize("args, message", [
    (["derive", "maxpool2d", "--input", "1,1,4,4", "--kernel", "2", "--padding-mode", "reflect"],
     "Error: padding-mode: got 'reflect', expected no padding-mode for maxpool2d (it takes: kernel, stride, padding, "
     "dilation, ceil-mode)"),
    (["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--padding-mode", "mirror"],
     "Error: Invalid value for '--padding-mode': 'mirror' is not one of 'zeros', 'reflect', 'replicate', 'circular'."),
    (["derive", "conv1d", "--input", "1,1,3", "--weight", "1,1,2", "--padding", "3", "--padding-mode", "reflect"],
     "Error: padding: got '3' with padding-mode reflect, expected at most 2 on axis L of size 3 (reflect mirrors the "
     "input without repeating its edge, so the padding must be smaller than the input, as in PyTorch)"),
    (["derive", "conv1d", "--input", "1,1,4", "--weight", "1,1,2", "--padding", "1", "--padding-mode", "replicate",
      "--form", "matrix"],
     "Error: padding-mode: got replicate with --form matrix, expected zeros (the matrix pictures draw a "
     "zero-padded x; --form operator writes the fold of the padded input's gradient)"),
])
def test_cli_refuses_in_one_line(args, message):
    result = invoke(args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == message


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind, shape, weight, options", [
    ("conv1d", (1, 1, 4), (1, 1, 3), dict(padding=((2, 1),), stride=2)),
    ("conv2d", (1, 2, 3, 4), (2, 1, 2, 3), dict(padding=((1, 2), (2, 0)), groups=2, dilation=(1, 2))),
    ("conv3d", (1, 1, 3, 3, 2), (1, 1, 2, 2, 2), dict(padding=1)),
])
def test_operator_form_folds_the_padded_gradient_and_equals_the_derivation(mode, kind, shape, weight, options):
    d = derive(conv_spec(kind, shape, weight, padding_mode=mode, **options))
    assert check_identities(d) == {"dx": True, "dw": True, "db": True}
    data = json.loads(render(d, "json", form="operator"))
    assert data["equal_to_derivation"] == {"dx": True, "dw": True, "db": True}
    assert data["identities"][0] == f"dx = fold_{mode}(dx_pad)"
    assert data["identities"][2].startswith("dx_pad = conv_transpose(dy, w; stride ")
    assert any(line.startswith(f"  x_pad: x padded with its own entries ({mode})") for line in data["identities"])


def test_operator_form_of_a_padding_mode_at_floats_is_pytorchs():
    """The fold of conv_transpose's padded gradient, at floats, is PyTorch's dx for nn.Conv2d(padding_mode)."""
    from symconv.formula.operators import operator_gradients

    spec = conv_spec("conv2d", (1, 2, 4, 5), (3, 2, 3, 2), padding=(2, 1), stride=(2, 1), padding_mode="reflect")
    rng = np.random.default_rng(13)
    x, w = rng.standard_normal(spec.input), rng.standard_normal(spec.weight)
    y, dy, dx, dw, _ = torch_conv(x, w, None, spec.stride, (2, 1), 1, 1, "reflect")
    got = operator_gradients(spec, dy, x, w)
    np.testing.assert_allclose(got[0], dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got[1], dw, rtol=1e-10, atol=1e-10)


def test_operator_form_with_zeros_is_unchanged():
    result = invoke(["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--padding", "1",
                     "--padding-mode", "zeros", "--form", "operator", "--format", "text"])
    plain = invoke(["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--padding", "1",
                    "--form", "operator", "--format", "text"])
    assert result.exit_code == 0 and result.output == plain.output


def test_a_stack_with_padding_modes_verifies_and_writes_the_fold():
    stack = stack_spec((1, 1, 4, 4), parse_layers(
        "conv2d(weight=2,1,3,3, padding=1, padding_mode=reflect) | relu | "
        "conv2d(weight=1,2,2,2, padding=same, padding-mode=circular)"))
    assert [layer.padding_mode for layer in stack.layers[::2]] == ["reflect", "circular"]
    d = derive(stack)
    assert symconv.verify(d).passed
    latex = render(d, "latex")
    assert r"\partial x &= \operatorname{fold}_{\mathrm{reflect}}(\operatorname{rot180}(w^{(1)}) \,\hat{*}\, " \
           r"\partial h^{(1)})" in latex
    assert r"\partial w^{(2)} &= \operatorname{pad}_{\mathrm{circular}}(h^{(2)}) \star \partial y" in latex
    assert r"\operatorname{fold}_m adds the padded input's gradient back" in latex


def test_a_stack_json_file_says_the_mode(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"layers": [
        {"kind": "conv3d", "weight": [1, 1, 2, 2, 2], "padding": [[1, 0], [0, 1], [1, 1]], "padding_mode": "replicate"},
        {"kind": "relu"}]}))
    result = invoke(["derive", "stack", "--input", "1,1,2,3,3", "--layers", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    layer = json.loads(result.output)["layer"]["layers"][0]
    assert layer["padding_mode"] == "replicate" and layer["padding"] == [[1, 0], [0, 1], [1, 1]]
    assert invoke(["verify", "stack", "--input", "1,1,2,3,3", "--layers", str(path)]).exit_code == 0


def test_a_stack_refuses_a_reflect_padding_its_layer_input_cannot_fill():
    with pytest.raises(SymconvError) as raised:
        stack_spec((1, 1, 4, 4), parse_layers("conv2d(weight=1,1,3,3, stride=2) | "
                                              "conv2d(weight=1,1,1,1, padding=1, padding_mode=reflect)"))
    assert str(raised.value) == (
        "layers: layer 2 (conv2d), applied to the output of layer 1 (conv2d) of shape 1,1,1,1: padding: got '1' "
        "with padding-mode reflect, expected at most 0 on axis H of size 1 (reflect mirrors the input without "
        "repeating its edge, so the padding must be smaller than the input, as in PyTorch)")


def test_check_cs231n_refuses_a_padding_mode():
    with pytest.raises(SymconvError) as raised:
        symconv.check_backward(lambda dout, cache: None, "conv2d", input=(1, 1, 4, 4), weight=(1, 1, 3, 3), padding=1,
                               padding_mode="reflect", convention="cs231n")
    assert str(raised.value) == ("convention: got 'cs231n' for this layer, expected zero padding (got padding_mode "
                                 "reflect) (cs231n's conv_param holds only stride and pad)")


def test_check_names_a_zero_padded_backward(tmp_path):
    (tmp_path / "zero_padded.py").write_text(
        "from symconv.reference import conv_backward\n"
        "def backward(dy, x, w, b, stride, padding, dilation, groups, padding_mode='zeros'):\n"
        "    return conv_backward(dy, x, w, stride, padding, dilation, groups)\n"
        "def right(dy, x, w, b, stride, padding, dilation, groups, padding_mode='zeros'):\n"
        "    return conv_backward(dy, x, w, stride, padding, dilation, groups, padding_mode)\n")
    options = dict(input=(1, 1, 5), weight=(1, 1, 3), padding=1, padding_mode="reflect")
    import importlib.util

    loaded = importlib.util.spec_from_file_location("zero_padded", tmp_path / "zero_padded.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    wrong = symconv.check_backward(module.backward, "conv1d", **options)
    assert not wrong.ok
    assert [finding.name for finding in wrong.diagnosis] == ["padding-mode-ignored"]
    assert symconv.check_backward(module.right, "conv1d", **options).ok
