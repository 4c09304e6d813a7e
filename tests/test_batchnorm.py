"""Batch norm in training mode: against PyTorch, the compact form against the element-wise chain rule,
derived (not typed in) by the channel engine, flat in cost, printed, verified, refused when it must be.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import Add, Indexed, Integer, Mul, Rational, diff, expand, sqrt

from readback import close, evaluate_json, json_of, parsed_tables, torch_grads
from symconv.cli.app import cli
from symconv.engine.channels import derive_channels
from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.layers.batchnorm import batchnorm_graph
from symconv.printing.formats import render
from symconv.spec.norm import batchnorm_spec
from symconv.spec.options import build_spec
from symconv.spec.stack import parse_layers, stack_spec
from symconv.symbolic.channels import ChannelStep
from symconv.symbolic.tensors import element, indices
from symconv.verify import verify

torch = pytest.importorskip("torch")
F = torch.nn.functional

LAYERS = {  # id: (kind, input, eps text or None, reduction)
    "1d-N,C": ("batchnorm1d", (4, 3), None, "sum"),
    "1d-N=2": ("batchnorm1d", (2, 2), None, "sum"),
    "1d-N,C,L": ("batchnorm1d", (2, 2, 3), "1e-3", "sum"),
    "1d-N=1,L=3": ("batchnorm1d", (1, 2, 3), None, "sum"),
    "2d": ("batchnorm2d", (2, 3, 2, 2), None, "sum"),
    "2d-eps-1/10-mean": ("batchnorm2d", (3, 2, 2, 1), "1/10", "mean"),
    "2d-2x4x8x8": pytest.param("batchnorm2d", (2, 4, 8, 8), None, "sum", marks=pytest.mark.slow),
}


def _leaves(shape, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return {"x": rng.standard_normal(shape) * 2 + 1, "w": rng.standard_normal(c), "b": rng.standard_normal(c)}, \
        rng.standard_normal(shape)


@pytest.mark.parametrize("kind, shape, eps, reduction", LAYERS.values(), ids=LAYERS.keys())
def test_every_tensor_equals_pytorchs_in_training_mode(kind, shape, eps, reduction):
    spec = batchnorm_spec(kind, shape, eps)
    leaves, dy = _leaves(shape, 7)
    values = evaluate_json(json_of(derive(spec, reduction=reduction)), {**leaves, "dy": dy})
    scale = 1 / shape[0] if reduction == "mean" else 1
    epsilon = float(spec.eps)
    y, grads = torch_grads(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=epsilon),
                           leaves, dy * scale)
    axes = (0,) + tuple(range(2, len(shape)))
    x = leaves["x"]
    assert close(values["mu"], x.mean(axis=axes)) and close(values["var"], x.var(axis=axes))
    assert close(values["y"], y)
    for name in ("x", "w", "b"):
        assert close(values["d" + name], grads[name]), name


def _definitions(d):
    """Each intermediate and parameter gradient as an expression of x, w, b and dy alone."""
    substitutions = {}
    order = [("mu", d.intermediates["mu"]), ("var", d.intermediates["var"]), ("xhat", d.intermediates["xhat"]),
             ("dw", d.gradients["dw"]), ("db", d.gradients["db"])]
    for name, table in order:
        for index, expr in table.items():
            substitutions[element(name, index)] = expr.xreplace(substitutions)
    return substitutions


def _rational_point(spec, seed):
    rng = np.random.default_rng(seed)
    point = {}
    for name, shape in (("x", spec.input), ("dy", spec.input), ("w", spec.weight), ("b", spec.weight)):
        for index in indices(shape):
            point[element(name, index)] = Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 5)))
    return point


def _expanded_forward(spec):
    """y with mu and var written out in x: the forward a hand derivation differentiates element by element."""
    eps = Rational(spec.eps.numerator, spec.eps.denominator)
    m = spec.per_channel
    y = {}
    for c in range(spec.input[1]):
        members = [i for i in indices(spec.input) if i[1] == c]
        mu = Add(*(element("x", i) for i in members)) / m
        var = Add(*((element("x", i) - mu) ** 2 for i in members)) / m
        for i in members:
            y[i] = element("w", (c,)) * (element("x", i) - mu) / sqrt(var + eps) + element("b", (c,))
    return y


SMALL = {"1d-3x2": ("batchnorm1d", (3, 2)), "1d-2x1x2": ("batchnorm1d", (2, 1, 2)), "2d-1x1x2x2": ("batchnorm2d", (1, 1, 2, 2))}


@pytest.mark.parametrize("kind, shape", SMALL.values(), ids=SMALL.keys())
def test_the_compact_dx_equals_the_element_wise_chain_rule_exactly(kind, shape):
    """dx = w/sqrt(var + eps) (dy - db/M - xhat dw/M) against sum_i dy_i dy_i/dx_j, y written out in x."""
    spec = batchnorm_spec(kind, shape)
    d = derive(spec)
    definitions = _definitions(d)
    forward = _expanded_forward(spec)
    loss = Add(*(element("dy", i) * y for i, y in forward.items()))
    for seed in (0, 1):
        point = _rational_point(spec, seed)
        for j in indices(shape):
            compact = d.gradients["dx"][j].xreplace(definitions).xreplace(point)
            by_hand = diff(loss, element("x", j)).xreplace(point)
            assert expand(compact - by_hand) == 0, j


@pytest.mark.parametrize("kind, shape", SMALL.values(), ids=SMALL.keys())
def test_the_jacobian_the_documents_state_is_the_derivative_of_the_forward(kind, shape):
    """dy_j/dx_i = w/sqrt(var + eps) ([i = j] - 1/M - xhat_i xhat_j / M), as the notes say."""
    spec = batchnorm_spec(kind, shape)
    d = derive(spec)
    definitions, forward, m = _definitions(d), _expanded_forward(spec), spec.per_channel
    point = _rational_point(spec, 2)
    for j in indices(shape):
        for i in indices(shape):
            derivative = diff(forward[j], element("x", i)).xreplace(point)
            if i[1] != j[1]:
                assert derivative == 0
                continue
            c = (j[1],)
            xhat = lambda k: element("xhat", k).xreplace(definitions)  # noqa: E731
            stated = (element("w", c) / sqrt(element("var", c) + Rational(1, 100000))).xreplace(definitions) * (
                Integer(i == j) - Rational(1, m) - xhat(i) * xhat(j) / m)
            assert expand(stated.xreplace(point) - derivative) == 0, (i, j)


def test_the_engine_derives_another_graph_as_well():
    """The channel engine knows no layer: the unbiased variance (divided by M - 1) gives its own
    gradient, equal to SymPy's derivative of that forward written out."""
    spec = batchnorm_spec("batchnorm1d", (3, 1))
    graph = batchnorm_graph(spec)
    x, mu = graph.symbols["x"], graph.symbols["mu"]
    steps = list(graph.steps)
    steps[1] = ChannelStep("var", True, (x - mu) ** 2 * Rational(3, 2))
    forward, steps_tables, gradients, _ = derive_channels(graph.with_steps(steps))
    substitutions = {}
    for name, table in [*steps_tables.items(), ("dw", gradients["dw"]), ("db", gradients["db"])]:
        for index, expr in table.items():
            substitutions[element(name, index)] = expr.xreplace(substitutions)
    members = [element("x", (n, 0)) for n in range(3)]
    mean = Add(*members) / 3
    variance = Add(*((e - mean) ** 2 for e in members)) / 2
    loss = Add(*(element("dy", (n, 0)) * (element("w", (0,)) * (members[n] - mean) / sqrt(variance + Rational(1, 100000))
                                          + element("b", (0,))) for n in range(3)))
    point = _rational_point(spec, 3)
    for n in range(3):
        derived = gradients["dx"][(n, 0)].xreplace(substitutions).xreplace(point)
        assert expand(derived - diff(loss, members[n]).xreplace(point)) == 0
    assert gradients["dx"][(0, 0)] != derive(spec).gradients["dx"][(0, 0)]  # not the biased form


def _terms(expr) -> int:
    """Terms as written: those of a sum, or of the one sum inside a product (the compact dx)."""
    if isinstance(expr, Add):
        return len(expr.args)
    return max([len(f.args) for f in Mul.make_args(expr) if isinstance(f, Add)] + [1])


@pytest.mark.parametrize("shape", [(2, 3), (5, 2, 3), (2, 2, 3, 3)], ids=["1d-small", "1d-larger", "2d"])
def test_the_size_guard_counts_eleven_terms_per_element_whatever_the_size(shape):
    spec = batchnorm_spec("batchnorm1d" if len(shape) < 4 else "batchnorm2d", shape)
    d = derive(spec)
    tables = [*d.intermediates.values(), d.forward, *d.gradients.values()]
    assert sum(_terms(e) for table in tables for e in table.values()) == spec.estimate_terms() == 11 * np.prod(shape)
    assert sum(len(table) for table in tables) == spec.count_entries()
    assert all(_terms(e) == 3 for e in d.gradients["dx"].values())  # flat: a dx entry never grows with M


def test_dx_is_written_in_the_compact_textbook_form():
    d = derive(batchnorm_spec("batchnorm1d", (2, 2)))
    latex, text = render(d, "latex"), render(d, "text")
    assert (r"\frac{\partial L}{\partial x_{1,0}} &= \frac{w_{0}}{\sqrt{\sigma^{2}_{0} + \epsilon}} "
            r"\left(dy_{1,0} - \frac{db_{0}}{2} - \frac{dw_{0} \hat{x}_{1,0}}{2}\right)") in latex
    assert r"\hat{x}_{1,0} &= \frac{x_{1,0} - \mu_{0}}{\sqrt{\sigma^{2}_{0} + \epsilon}}" in latex
    assert r"\sigma^{2}_{0} &= \frac{1}{2}\,(\left(x_{0,0} - \mu_{0}\right)^{2} + \left(x_{1,0} - \mu_{0}\right)^{2})" in latex
    assert "  dx[1,0] = w[0]/sqrt(var[0] + eps)*(dy[1,0] - db[0]/2 - dw[0]*xhat[1,0]/2)" in text
    assert "  dw[0] = dy[0,0]*xhat[0,0] + dy[1,0]*xhat[1,0]" in text
    for document in (latex, text, render(d, "markdown")):
        assert "element-wise chain rule" in document and "eps = 1/100000" in document.replace(r"\epsilon", "eps")


def test_the_json_lists_every_table_before_it_is_used_and_reads_back():
    d = derive(batchnorm_spec("batchnorm2d", (2, 1, 1, 2)))
    data = json_of(d)
    assert list(data["shapes"]) == ["x", "w", "b", "mu", "var", "xhat", "y"]
    assert list(data["gradients"]) == ["dw", "db", "dx"]
    dx = data["gradients"]["dx"]["dx[0, 0, 0, 1]"]  # M = 4 values per channel
    for part in ("-db[0]/4", "- dw[0]*xhat[0, 0, 0, 1]/4", "+ dy[0, 0, 0, 1])", "w[0]", "/sqrt(var[0] + 1/100000)"):
        assert part in dx
    seen = {"x", "w", "b", "dy"}
    expected = {**d.intermediates, "y": d.forward, **d.gradients}
    for name, table in parsed_tables(data):
        assert table == dict(expected[name].items()), name
        used = {a.base.name for expr in table.values() for a in expr.atoms(Indexed)}
        assert used and used <= seen, (name, used - seen)
        seen.add(name)


def test_verify_passes_and_says_why_there_is_no_exact_check():
    report = verify(derive(batchnorm_spec("batchnorm2d", (2, 2, 2, 2))))
    assert report.passed and [c.name for c in report.checks] == ["mu", "var", "xhat", "y", "dw", "db", "dx"]
    assert all(c.exact is None for c in report.checks)
    assert "square root" in report.to_dict()["tensors"]["dx"]["exact"]["note"]


CNN = "conv2d(weight=2,1,3,3, padding=1) | batchnorm2d | relu | maxpool2d(kernel=2) | flatten | linear(weight=3,8)"


def _torch_cnn(x, w1, b1, w2, b2, w3, b3):
    h = F.batch_norm(F.conv2d(x, w1, b1, padding=1), None, None, w2, b2, training=True, eps=1e-5)
    return F.linear(torch.flatten(F.max_pool2d(F.relu(h), 2), 1), w3, b3)


def test_a_cnn_with_batch_norm_equals_pytorch_and_verifies():
    """The conv's bias gets a zero gradient (the batch norm removes any constant): verify must pass anyway."""
    d = derive(stack_spec((2, 1, 4, 4), parse_layers(CNN)))
    assert d.names[1]["w"] == "w2" and list(d.intermediates[1]) == ["mu2", "var2", "xhat2"]
    rng = np.random.default_rng(8)
    shapes = {"x": (2, 1, 4, 4), "w1": (2, 1, 3, 3), "b1": (2,), "w2": (2,), "b2": (2,), "w3": (3, 8), "b3": (3,)}
    leaves = {name: rng.standard_normal(shape) for name, shape in shapes.items()}
    dy = rng.standard_normal((2, 3))
    values = evaluate_json(json_of(d), {**leaves, "dy": dy})
    y, grads = torch_grads(_torch_cnn, leaves, dy)
    assert close(values["y"], y)
    for name in leaves:
        assert close(values["d" + name], grads[name]) or name == "b1", name
    assert np.abs(values["db1"]).max() < 1e-12 and np.abs(grads["b1"]).max() < 1e-12
    report = verify(d)
    assert report.passed, report.table()
    assert r"\frac{w^{(2)}}{\sqrt{{\sigma^{(2)}}^{2} + \epsilon}}" in render(d, "latex")


def test_a_batch_norm_between_linear_layers_verifies_with_the_mean_reduction():
    spec = stack_spec((4, 3), parse_layers("linear(weight=5,3) | batchnorm1d(eps=1e-3) | tanh | linear(weight=2,5)"))
    assert verify(derive(spec, reduction="mean")).passed


# ------------------------------------------------------------------ bad input

BAD = {  # id: (kind, input, options, the message)
    "one-per-channel-1d": ("batchnorm1d", "1,3", {}, "input: got '1,3', expected more than one value per channel "
                           "(N times the spatial size: 1 here), as PyTorch requires in training"),
    "one-per-channel-1d-L": ("batchnorm1d", "1,3,1", {}, "input: got '1,3,1', expected more than one value per channel"),
    "one-per-channel-2d": ("batchnorm2d", "1,2,1,1", {}, "input: got '1,2,1,1', expected more than one value per channel"),
    "1d-rank-4": ("batchnorm1d", "2,3,4,4", {}, "input: got '2,3,4,4', expected N,C or N,C,L for batchnorm1d "
                  "(batchnorm2d takes N,C,H,W)"),
    "2d-rank-3": ("batchnorm2d", "2,3,4", {}, "input: got '2,3,4', expected N,C,H,W for batchnorm2d "
                  "(batchnorm1d takes N,C or N,C,L)"),
    "eps-word": ("batchnorm1d", "2,3", {"eps": "abc"}, "eps: got 'abc', expected a number such as 1e-5"),
    "eps-zero": ("batchnorm1d", "2,3", {"eps": "0"}, "eps: got '0', expected a positive number such as 1e-5"),
    "eps-negative": ("batchnorm1d", "2,3", {"eps": "-1e-5"}, "eps: got '-1e-5', expected a positive number"),
    "eps-huge-exponent": ("batchnorm1d", "2,3", {"eps": "1e5000"}, "eps: got '1e5000', expected a number such as"),
    "eps-too-large": ("batchnorm1d", "2,3", {"eps": "1e400"}, "eps: got '1e400', expected a number a float64 can hold"),
    "eps-1/0": ("batchnorm1d", "2,3", {"eps": "1/0"}, "eps: got '1/0', expected a number such as 1e-5"),
    "eps-code": ("batchnorm1d", "2,3", {"eps": "__import__('os')"}, "eps: got \"__import__('os')\", expected a number"),
    "eps-on-conv": ("conv1d", "1,1,3", {"weight": "1,1,2", "eps": "0.1"}, "eps: got '0.1', expected no eps for conv1d"),
    "weight-on-bn": ("batchnorm2d", "2,1,2,2", {"weight": "1"}, "weight: got '1', expected no weight for batchnorm2d"),
}


@pytest.mark.parametrize("kind, shape, options, message", BAD.values(), ids=BAD.keys())
def test_bad_batch_norm_input_is_one_line(kind, shape, options, message):
    with pytest.raises(SymconvError) as caught:
        build_spec(kind, shape, **options)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    arguments = ["derive", kind, "--input", shape] + [a for n, v in options.items() for a in (f"--{n}", v)]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2 and result.output.strip() == "Error: " + str(caught.value)


def test_a_batch_norm_left_with_one_value_per_channel_is_named_in_the_stack():
    with pytest.raises(SymconvError) as caught:
        stack_spec((1, 1, 2, 2), parse_layers("conv2d(weight=2,1,2,2) | batchnorm2d"))
    assert str(caught.value) == (
        "layers: layer 2 (batchnorm2d), applied to the output of layer 1 (conv2d) of shape 1,2,1,1: input: got "
        "'1,2,1,1', expected more than one value per channel (N times the spatial size: 1 here), as PyTorch "
        "requires in training")


def test_pytorch_refuses_one_value_per_channel_too():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(torch.ones(1, 3), None, None, training=True)


@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None, reason="pdflatex is not installed "
                    "(Debian: apt-get install texlive-latex-base)")
def test_the_documents_of_every_new_kind_compile_with_pdflatex():
    """A stack of them all, and each alone: LaTeX that pdflatex accepts (no double superscripts)."""
    from symconv.plot.pdf import compile_latex

    stack = stack_spec((2, 1, 3, 3), parse_layers(
        "conv2d(weight=2,1,2,2) | batchnorm2d | tanh | flatten | linear(weight=2,8) | sigmoid"))
    for spec in (stack, batchnorm_spec("batchnorm1d", (2, 2)), build_spec("linear", "1,2", weight="2,2")):
        assert compile_latex(render(derive(spec), "latex", standalone=True)).data.startswith(b"%PDF")
