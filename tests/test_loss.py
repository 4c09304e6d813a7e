"""Losses at the end of a layer or a stack: mse and cross-entropy, as PyTorch defines them.

dy = dL/dy is derived from the loss's definition; these tests hold it, and
every gradient below it, equal to PyTorch's autograd of
``torch.nn.functional.mse_loss`` / ``cross_entropy`` (float64), check the
reference losses against PyTorch too, and hold what the sum loss prints
unchanged. The JSON strings are read back with ``parse_expr``, as a user
would, and evaluated in chain order.
"""

from __future__ import annotations

import dataclasses
import json
import re
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import IndexedBase, Rational
from sympy.parsing.sympy_parser import parse_expr

from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.engine.evaluate import evaluate_table
from symconv.engine.loss import derive_loss
from symconv.errors import SymconvError
from symconv.printing.documents import render
from symconv.printing.formats import TextPrinter
from symconv.printing.latex import SymconvLatexPrinter
from symconv.printing.present import IndexStyle
from symconv.reference.loss import cross_entropy_backward, cross_entropy_terms, mse_backward, mse_terms
from symconv.spec import activation_spec, conv_spec
from symconv.spec.loss import loss_spec, read_target
from symconv.spec.stack import parse_layers, stack_spec, tensor_names
from symconv.verify import verify

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _tensor(array, grad=False):
    return torch.tensor(np.asarray(array, dtype=float), dtype=torch.float64, requires_grad=grad)


def _torch_loss(kind, y, t, reduction):
    if kind == "mse":
        return F.mse_loss(y, t, reduction=reduction)
    return F.cross_entropy(y, t, reduction=reduction)


def _target(kind, shape, rng):
    if kind == "mse":
        return rng.standard_normal(shape)
    return rng.integers(0, shape[1], size=shape[0])


def _torch_target(kind, t):
    return _tensor(t) if kind == "mse" else torch.tensor(np.asarray(t), dtype=torch.long)


# -- the spec: defaults and refusals -----------------------------------------------------------

def test_the_reduction_defaults_as_in_pytorch():
    assert loss_spec("sum", None, (2, 3)).reduction == "sum"
    assert loss_spec("mse", None, (2, 3)).reduction == "mean"
    assert loss_spec("cross_entropy", None, (2, 3)).reduction == "mean"
    assert loss_spec("mse", "mean", (2, 3, 4)).divisor == 24  # over all elements
    assert loss_spec("cross_entropy", "mean", (2, 3)).divisor == 2  # over the batch
    assert loss_spec("sum", "mean", (5, 3, 4)).divisor == 5  # today's mean: over the batch
    assert loss_spec("mse", "sum", (2, 3)).divisor == 1


BAD_SPECS = [
    pytest.param(lambda: loss_spec("cross_entropy", None, (2, 3, 4)), "loss: got cross_entropy for an output y of "
                 "shape 2,3,4, expected y of shape N,K", id="cross-entropy-not-2d"),
    pytest.param(lambda: loss_spec("mse", "none", (2, 3)), "reduction: got 'none', expected sum or mean",
                 id="reduction-none"),
    pytest.param(lambda: loss_spec("mse", "batchmean", (2, 3)), "reduction: got 'batchmean', expected sum or mean "
                 "(for --loss mse", id="reduction-batchmean"),
    pytest.param(lambda: loss_spec("hinge", None, (2, 3)), "loss: got 'hinge', expected one of sum, mse, "
                 "cross_entropy", id="unknown-loss"),
    pytest.param(lambda: read_target(loss_spec("cross_entropy", None, (2, 3)), "0,3"),
                 "target: got label 3 for t[1], expected a class in 0..2", id="label-too-large"),
    pytest.param(lambda: read_target(loss_spec("cross_entropy", None, (2, 3)), "-1,0"),
                 "target: got label -1 for t[0], expected a class in 0..2", id="label-negative"),
    pytest.param(lambda: read_target(loss_spec("cross_entropy", None, (2, 3)), "0"),
                 "target: got 1 values, expected 2 labels, one per sample of y 2,3", id="labels-too-few"),
    pytest.param(lambda: read_target(loss_spec("cross_entropy", None, (2, 3)), "0,1.5"),
                 "target: got '1.5', expected integer labels, each in 0..2", id="label-not-an-integer"),
    pytest.param(lambda: read_target(loss_spec("cross_entropy", None, (2, 3)), [0, True]),
                 "(value 2) is not an integer", id="label-a-bool"),
    pytest.param(lambda: read_target(loss_spec("mse", None, (1, 2, 2)), "1,2,3"),
                 "target: got 3 values, expected 4 values, one per element of y 1,2,2", id="mse-shape-mismatch"),
    pytest.param(lambda: read_target(loss_spec("mse", None, (1, 1, 2)), "1,abc"),
                 "cannot read 'abc' (value 2)", id="mse-not-a-number"),
    pytest.param(lambda: read_target(loss_spec("mse", None, (1, 1, 2)), "1,1e999"),
                 "expected numbers a float64 can hold", id="mse-too-large"),
    pytest.param(lambda: read_target(loss_spec("sum", None, (1, 1, 2)), "1,2"),
                 "target: got '1,2', expected no target for --loss sum", id="target-for-the-sum-loss"),
]


@pytest.mark.parametrize("make, message", BAD_SPECS)
def test_bad_loss_input_is_one_symconv_error_line(make, message):
    with pytest.raises(SymconvError) as caught:
        make()
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_given_target_reads_exactly():
    assert read_target(loss_spec("mse", None, (1, 1, 3)), "0.1, -2, 1/3") == (Fraction(1, 10), -2, Fraction(1, 3))
    assert read_target(loss_spec("cross_entropy", None, (3, 4)), [3, 0, 2]) == (3, 0, 2)


BAD_COMMANDS = [
    pytest.param(["derive", "relu", "--input", "2,3,1", "--loss", "cross_entropy"], "expected y of shape N,K",
                 id="cross-entropy-not-2d"),
    pytest.param(["derive", "relu", "--input", "2,3,1", "--loss", "mse", "--reduction", "none"], "'none'",
                 id="reduction-none"),
    pytest.param(["verify", "relu", "--input", "2,3,1", "--loss", "mse", "--target", "1,2"],
                 "target: got 2 values, expected 6", id="target-shape"),
    pytest.param(["verify", "relu", "--input", "2,3,1", "--target", "1,2"], "expected no target for --loss sum",
                 id="target-without-loss"),
    pytest.param(["derive", "conv2d", "--input", "1,1,3,3", "--weight", "1,1,2,2", "--loss", "mse", "--form",
                  "operator"], "loss: got mse with --form operator", id="loss-with-operator-form"),
    pytest.param(["derive", "relu", "--input", "2,3,1", "--loss", "mae"], "'mae'", id="unknown-loss"),
]


@pytest.mark.parametrize("args, fragment", BAD_COMMANDS)
def test_bad_loss_options_are_one_line_and_exit_2(args, fragment):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr


# -- the reference losses against PyTorch ------------------------------------------------------

@pytest.mark.parametrize("kind, shape", [("mse", (2, 3, 2)), ("cross_entropy", (3, 4)), ("cross_entropy", (1, 1))])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_reference_losses_equal_pytorchs(kind, shape, reduction):
    rng = np.random.default_rng(1)
    y, t = rng.standard_normal(shape) * 3, _target(kind, shape, rng)
    spec = loss_spec(kind, reduction, shape)
    terms, backward = (mse_terms, mse_backward) if kind == "mse" else (cross_entropy_terms, cross_entropy_backward)
    y_torch = _tensor(y, grad=True)
    loss = _torch_loss(kind, y_torch, _torch_target(kind, t), reduction)
    loss.backward()
    assert np.sum(terms(y, t)) / spec.divisor == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(backward(y, t, spec.divisor), y_torch.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_the_mse_reference_is_exact_on_fractions():
    y = np.array([Fraction(1, 3), Fraction(-2)], dtype=object)
    t = np.array([Fraction(1, 2), Fraction(1, 7)], dtype=object)
    assert list(mse_backward(y, t, 2)) == [Fraction(-1, 6), Fraction(-15, 7)]
    assert list(mse_terms(y, t)) == [Fraction(1, 36), Fraction(225, 49)]


# -- dy, derived, against PyTorch's autograd of the loss ---------------------------------------

LOSSES = [("mse", (2, 3), "mean"), ("mse", (1, 2, 2), "sum"), ("cross_entropy", (2, 3), "mean"),
          ("cross_entropy", (3, 2), "sum"), ("cross_entropy", (2, 1), "mean")]


@pytest.mark.parametrize("kind, shape, reduction", LOSSES, ids=lambda v: str(v))
def test_the_derived_dy_is_pytorchs_gradient_of_the_loss(kind, shape, reduction):
    rng = np.random.default_rng(2)
    y, t = rng.standard_normal(shape), _target(kind, shape, rng)
    table = derive_loss(loss_spec(kind, reduction, shape))
    assert sorted(table) == sorted(np.ndindex(*shape))  # every element
    derived = evaluate_table(table, shape, {"y": y, "t": t}, float)
    y_torch = _tensor(y, grad=True)
    _torch_loss(kind, y_torch, _torch_target(kind, t), reduction).backward()
    np.testing.assert_allclose(derived, y_torch.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind, shape, reduction", LOSSES[:3], ids=lambda v: str(v))
def test_the_chain_rule_over_a_terms_tree_is_sympys_diff(kind, shape, reduction):
    from sympy import simplify

    from symconv.engine.loss import partial
    from symconv.layers.loss import loss_rule_for

    loss = loss_spec(kind, reduction, shape)
    for term, elements in loss_rule_for(loss).terms(loss):
        for y in elements:
            assert simplify(partial(term, y) - term.diff(y)) == 0, (term, y)


@pytest.mark.parametrize("kind, shape, reduction", LOSSES, ids=lambda v: str(v))
def test_dy_reads_back_from_its_json_strings(kind, shape, reduction):
    table = derive_loss(loss_spec(kind, reduction, shape))
    names = {"y": IndexedBase("y"), "t": IndexedBase("t")}
    for index, expr in table.items():
        assert parse_expr(str(expr), local_dict=dict(names)) == expr, (index, str(expr))
        assert {str(s.base) for s in expr.atoms() if hasattr(s, "base")} <= {"y", "t"}


def test_cross_entropys_dy_reads_as_softmax_minus_the_label_indicator():
    mean = derive_loss(loss_spec("cross_entropy", "mean", (2, 3)))
    total = derive_loss(loss_spec("cross_entropy", "sum", (2, 3)))
    latex = SymconvLatexPrinter(IndexStyle(base=0))
    assert latex.signed_terms(mean[(1, 2)]) == [r"\frac{1}{2}\,(\operatorname{softmax}(y_{1})_{2}",
                                                "- [t_{1} = 2])"]
    assert latex.signed_terms(total[(0, 1)]) == [r"\operatorname{softmax}(y_{0})_{1}", "- [t_{0} = 1]"]
    text = TextPrinter(IndexStyle(base=1))
    assert " ".join(text.signed_terms(mean[(0, 0)])) == "1/2*(softmax(y[1])[1] - [t[1] = 1])"
    assert " ".join(text.signed_terms(derive_loss(loss_spec("mse", "sum", (1, 1, 1)))[(0, 0, 0)])) == \
        "2*(y[1,1,1] - t[1,1,1])"


# -- whole derivations against PyTorch, read from their JSON -----------------------------------

def _json_values(data, leaves):
    """Every forward and gradient entry of a derive --format json output, evaluated in order at ``leaves``.

    The strings are SymPy's ``str()``, which is also Python: each is
    evaluated with the tensors as NumPy arrays (``x[0, 1]`` indexes them) and
    SymPy's functions as NumPy's, which is quick and shares nothing with symconv.
    """
    arrays = {name: np.asarray(value, dtype=float) for name, value in leaves.items()}
    functions = {"exp": np.exp, "KroneckerDelta": lambda i, j: float(i == j),
                 "Piecewise": lambda *pieces: next(value for value, holds in pieces if holds)}
    results, entries = {}, {}
    items = [item for table in [data["forward"]] + list(data["gradients"].values()) for item in table.items()]
    for position, (key, expression) in enumerate(items):  # in chain order: a tensor's entries together
        name, index = key[:key.index("[")], tuple(int(i) for i in key[key.index("[") + 1:-1].split(","))
        entries[index] = float(eval(expression, {"__builtins__": {}}, {**functions, **arrays, **results}))
        if position + 1 == len(items) or not items[position + 1][0].startswith(name + "["):
            results[name], entries = _dense(entries), {}
    return results


def _dense(entries):
    shape = tuple(max(i[a] for i in entries) + 1 for a in range(len(next(iter(entries)))))
    array = np.zeros(shape)
    for index, value in entries.items():
        array[index] = value
    return array


CONV_CASES = [("mse", "mean"), ("mse", "sum")]


@pytest.mark.parametrize("kind, reduction", CONV_CASES)
def test_a_conv_layers_gradients_under_mse_are_pytorchs(kind, reduction):
    spec = conv_spec("conv2d", (2, 2, 4, 4), (3, 2, 2, 2), stride=2, padding=1)
    data = json.loads(render(derive(spec, loss=kind, reduction=reduction), "json"))
    assert list(data["gradients"]) == ["dy", "dx", "dw", "db"]
    assert data["layer"]["loss"] == kind and data["layer"]["reduction"] == reduction
    rng = np.random.default_rng(3)
    leaves = {"x": rng.standard_normal((2, 2, 4, 4)), "w": rng.standard_normal((3, 2, 2, 2)),
              "b": rng.standard_normal(3), "t": rng.standard_normal(data["shapes"]["t"])}
    got = _json_values(data, leaves)
    x, w, b = (_tensor(leaves[n], grad=True) for n in "xwb")
    y = F.conv2d(x, w, b, stride=2, padding=1)
    y.retain_grad()
    _torch_loss(kind, y, _tensor(leaves["t"]), reduction).backward()
    for name, expected in (("y", y), ("dy", y.grad), ("dx", x.grad), ("dw", w.grad), ("db", b.grad)):
        np.testing.assert_allclose(got[name], expected.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


STACK = "conv2d(weight=2,1,2,2, padding=1) | relu | maxpool2d(kernel=2) | conv2d(weight=2,2,1,1)"


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_stacks_gradients_under_mse_are_pytorchs(reduction):
    spec = stack_spec((2, 1, 4, 4), parse_layers(STACK))
    data = json.loads(render(derive(spec, loss="mse", reduction=reduction), "json"))
    assert list(data["gradients"])[0] == "dy" and "t" in data["shapes"]
    rng = np.random.default_rng(4)
    leaves = {name: rng.standard_normal(shape) for name, shape in data["shapes"].items()
              if name in ("x", "w1", "b1", "w2", "b2", "t")}
    got = _json_values(data, leaves)
    x, w1, b1, w2, b2 = (_tensor(leaves[n], grad=True) for n in ("x", "w1", "b1", "w2", "b2"))
    y = F.conv2d(F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2), w2, b2)
    F.mse_loss(y, _tensor(leaves["t"]), reduction=reduction).backward()
    for name, tensor in (("dx", x), ("dw1", w1), ("db1", b1), ("dw2", w2), ("db2", b2)):
        np.testing.assert_allclose(got[name], tensor.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_every_table_is_in_terms_of_tensors_listed_before_it():
    spec = stack_spec((2, 1, 4, 4), parse_layers(STACK))
    data = json.loads(render(derive(spec, loss="mse"), "json"))
    listed = {"x", "t"} | {n for n in data["shapes"] if n[0] in "wb"}
    element = re.compile(r"\b([a-z]+[0-9]*)\[")
    listed |= {key[:key.index("[")] for key in data["forward"]}
    for name, table in data["gradients"].items():
        used = {m for text in table.values() for m in element.findall(text)}
        assert used <= listed, (name, used - listed)
        listed.add(name)
    assert {m for text in data["gradients"]["dy"].values() for m in element.findall(text)} == {"y", "t"}


# -- verify ------------------------------------------------------------------------------------

VERIFIED = [
    pytest.param(lambda: activation_spec("relu", (2, 3, 1)), "mse", None, id="relu-mse"),
    pytest.param(lambda: conv_spec("conv1d", (2, 2, 5), (3, 2, 2), padding=1), "mse", "sum", id="conv1d-mse-sum"),
    pytest.param(lambda: stack_spec((1, 1, 5, 5), parse_layers(STACK)), "mse", None, id="stack-mse"),
]


@pytest.mark.parametrize("make, kind, reduction", VERIFIED)
def test_verify_proves_dy_and_the_chain(make, kind, reduction):
    report = verify(derive(make(), loss=kind, reduction=reduction))
    assert report.passed, report.table()
    checks = {check.name: check for check in report.checks}
    assert checks["dy"].fd_entries > 0 and checks["dy"].exact is True  # mse is rational
    assert all(check.exact is True for check in report.checks)
    assert "mse loss" in report.title


def test_verify_with_a_given_target_uses_it():
    derivation = derive(activation_spec("relu", (1, 2, 1)), loss="mse", reduction="sum")
    assert verify(derivation, target="1/3,2").passed
    with pytest.raises(SymconvError, match="expected 2 values"):
        verify(derivation, target="1,2,3")


@pytest.mark.parametrize("index", [(0, 1, 0), (1, 0, 0)])
def test_verify_names_a_wrong_dy_entry(index):
    derivation = derive(activation_spec("relu", (2, 2, 1)), loss="mse")
    table = dict(derivation.dy)
    table[index] = table[index] + Rational(1, 5)
    wrong = dataclasses.replace(derivation, dy=table)
    report = verify(wrong)
    failing = {check.name: check for check in report.checks if not check.passed}
    assert "dy" in failing and failing["dy"].where.startswith(f"dy[{', '.join(map(str, index))}]: derived")
    assert failing["dy"].exact is False and failing["dy"].vs_finite_differences > 1e-3


# -- the sum loss and the names ----------------------------------------------------------------

def test_the_sum_loss_is_the_default_and_prints_as_before():
    spec = conv_spec("conv1d", (2, 1, 4), (1, 1, 2))
    for reduction in ("sum", "mean"):
        plain, named = derive(spec, reduction=reduction), derive(spec, loss="sum", reduction=reduction)
        assert named.loss is None and named.dy is None
        for fmt in ("latex", "markdown", "text", "json"):
            assert render(plain, fmt) == render(named, fmt)
        data = json.loads(render(named, "json"))
        assert "loss" not in data["layer"] and "t" not in data["shapes"] and "dy" not in data["gradients"]


def test_parameters_are_numbered_over_the_layers_that_have_them():
    spec = stack_spec((1, 1, 8, 8), parse_layers(
        "conv2d(weight=2,1,3,3) | relu | maxpool2d(kernel=2) | conv2d(weight=1,2,2,2, bias=false) | relu"
        " | conv2d(weight=1,1,1,1)"))
    names = tensor_names(spec)
    assert [n["x"] for n in names] == ["x", "h1", "h2", "h3", "h4", "h5"]
    assert [n["y"] for n in names] == ["h1", "h2", "h3", "h4", "h5", "y"]
    assert [n.get("w") for n in names] == ["w1", None, None, "w2", None, "w3"]
    shapes = derive(spec, loss="mse").shapes
    assert list(shapes)[-1] == "t" and shapes["b2"] is None and shapes["t"] == shapes["y"]
    assert set(derive(conv_spec("conv1d", (1, 1, 3), (1, 1, 2)), loss="mse").shapes) == {"x", "w", "b", "y", "t"}


def test_a_batch_norm_and_a_linear_layer_number_their_parameters_in_the_same_count():
    spec = stack_spec((2, 1, 4, 4), parse_layers(
        "conv2d(weight=2,1,3,3, padding=1) | batchnorm2d | relu | flatten | linear(weight=3,32)"))
    assert [(n.get("w"), n.get("b")) for n in tensor_names(spec)] == [
        ("w1", "b1"), ("w2", "b2"), (None, None), (None, None), ("w3", "b3")]
    shapes = derive(spec, loss="cross_entropy").shapes
    assert shapes["w2"] == shapes["b2"] == (2,) and shapes["t"] == (2,) and shapes["y"] == (2, 3)


@pytest.mark.parametrize("fmt", ["latex", "markdown", "text", "json"])
def test_derive_with_a_loss_in_every_format(fmt):
    result = CliRunner().invoke(cli, ["derive", "stack", "--input", "1,1,4,4", "--layers",
                                      "conv2d(weight=1,1,2,2) | relu", "--loss", "mse", "--format", fmt])
    assert result.exit_code == 0, result.output
    text = result.stdout
    if fmt == "json":
        assert list(json.loads(text)["gradients"])[0] == "dy"
    else:
        assert "mse loss, mean over the 9 elements of y" in text
        first, chain = text.index("Loss: gradient with respect to the output y"), text.find("from dy")
        assert first < chain  # dy is printed before the chain that starts from it
    if fmt in ("latex", "markdown"):
        assert r"\partial y &= \frac{2}{9}\,(y - t)" in text  # the chain's first step


# -- cross-entropy at the end of linear layers, and the worked example -------------------------

WORKED = ("conv2d(weight=4,1,3,3, padding=1) | relu | maxpool2d(kernel=2) | flatten | linear(weight=8,64) | relu"
          " | linear(weight=3,8)")


def _cross_entropy_check(data, leaves, torch_forward, reduction, parameters):
    got = _json_values(data, leaves)
    tensors = {name: _tensor(leaves[name], grad=True) for name in parameters}
    y = torch_forward(tensors)
    y.retain_grad()
    F.cross_entropy(y, torch.tensor(leaves["t"], dtype=torch.long), reduction=reduction).backward()
    np.testing.assert_allclose(got["y"], y.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg="y")
    np.testing.assert_allclose(got["dy"], y.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg="dy")
    for name in parameters:
        np.testing.assert_allclose(got["d" + name], tensors[name].grad.numpy(), rtol=1e-9, atol=1e-13,
                                   err_msg="d" + name)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_linear_layers_gradients_under_cross_entropy_are_pytorchs(reduction):
    from symconv.spec.options import build_spec

    spec = build_spec("linear", "3,4", weight="5,4")
    data = json.loads(render(derive(spec, loss="cross_entropy", reduction=reduction), "json"))
    assert data["shapes"]["t"] == [3] and list(data["gradients"]) == ["dy", "dx", "dw", "db"]
    rng = np.random.default_rng(5)
    leaves = {"x": rng.standard_normal((3, 4)), "w": rng.standard_normal((5, 4)), "b": rng.standard_normal(5),
              "t": np.array([4, 0, 2])}
    _cross_entropy_check(data, leaves, lambda v: F.linear(v["x"], v["w"], v["b"]), reduction, ("x", "w", "b"))


def test_the_worked_examples_gradients_are_pytorchs():
    spec = stack_spec((2, 1, 8, 8), parse_layers(WORKED))
    data = json.loads(render(derive(spec, loss="cross_entropy"), "json"))
    assert data["layer"]["loss"] == "cross_entropy" and data["layer"]["reduction"] == "mean"
    rng = np.random.default_rng(6)
    leaves = {name: rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]) if len(shape) > 1 else 1)
              for name, shape in data["shapes"].items() if name[0] in "xwb"}
    leaves["t"] = np.array([2, 1])

    def network(v):
        h = F.max_pool2d(F.relu(F.conv2d(v["x"], v["w1"], v["b1"], padding=1)), 2)
        return F.linear(F.relu(F.linear(torch.flatten(h, 1), v["w2"], v["b2"])), v["w3"], v["b3"])

    _cross_entropy_check(data, leaves, network, "mean", ("x", "w1", "b1", "w2", "b2", "w3", "b3"))


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_verify_proves_the_worked_example(seed):
    report = verify(derive(stack_spec((2, 1, 8, 8), parse_layers(WORKED)), loss="cross_entropy"), seed=seed)
    assert report.passed, report.table()
    checks = {check.name: check for check in report.checks}
    assert checks["dy"].exact is None and "not rational" in checks["dy"].exact_note
    assert all(check.exact is True for name, check in checks.items() if name != "dy")  # from a rational dy
    assert checks["dy"].fd_entries == 6 and checks["dw1"].fd_entries == 32


def test_verify_refuses_a_label_outside_the_classes():
    result = CliRunner().invoke(cli, ["verify", "linear", "--input", "2,4", "--weight", "3,4", "--loss",
                                      "cross_entropy", "--target", "2,3"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: target: got label 3 for t[1], expected a class in 0..2 "
                                     "(y has K = 3 logits per sample)")
    given = CliRunner().invoke(cli, ["verify", "linear", "--input", "2,4", "--weight", "3,4", "--loss",
                                     "cross_entropy", "--target", "2,0"])
    assert given.exit_code == 0, given.output


def test_verify_names_a_wrong_cross_entropy_dy_entry():
    from symconv.spec.options import build_spec

    derivation = derive(build_spec("linear", "2,3", weight="3,3"), loss="cross_entropy")
    table = dict(derivation.dy)
    table[(1, 2)] = table[(1, 2)] * Rational(11, 10)
    failing = [c for c in verify(dataclasses.replace(derivation, dy=table)).checks if not c.passed]
    assert [c.name for c in failing][:1] == ["dy"] and failing[0].where.startswith("dy[1, 2]: derived")


@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None,
                    reason="pdflatex is not installed (Debian: texlive-latex-base)")
@pytest.mark.parametrize("args", [
    pytest.param(["linear", "--input", "2,4", "--weight", "3,4", "--loss", "cross_entropy", "--index-base", "1"],
                 id="linear-cross-entropy"),
    pytest.param(["stack", "--input", "1,1,4,4", "--layers", "conv2d(weight=1,1,2,2) | relu", "--loss", "mse",
                  "--reduction", "sum"], id="stack-mse"),
])
def test_render_typesets_a_derivation_with_a_loss(tmp_path, args):
    path = tmp_path / "loss.pdf"
    result = CliRunner().invoke(cli, ["render", *args, "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_bytes().startswith(b"%PDF")
