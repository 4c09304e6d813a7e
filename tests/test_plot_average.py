"""Tests for symconv.plot.average and ``symconv plot`` of average pools: the pictures show the derivation.

The Jacobian an average-pool picture draws must be, entry for entry and as
exact fractions, the Jacobian of the NumPy reference kernel (its backward
fed one-hot dy) and, in float64, PyTorch's; the routing picture's dy and
coefficients must be that Jacobian's column. The layers cover overlapping
windows, padding with and without count_include_pad, ceil_mode,
divisor_override, adaptive windows of uneven size, 1-D and 2-D, and batches
and channels above one.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="pictures need matplotlib (the 'plot' or 'test' extra)")

from symconv import reference  # noqa: E402
from symconv.engine.derive import derive  # noqa: E402
from symconv.errors import SymconvError  # noqa: E402
from symconv.plot.average import (  # noqa: E402
    avgpool_jacobian,
    avgpool_routing,
    check_avgpool_jacobian_size,
    plot_avgpool_jacobian,
    plot_avgpool_routing,
)
from symconv.spec.adaptive import adaptive_pool_spec  # noqa: E402
from symconv.spec.pool import pool_spec  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: id: (kind, input, options), the options as PyTorch names them.
LAYERS = {
    "overlap-1d": ("avgpool1d", (1, 1, 7), {"kernel": 3, "stride": 2}),
    "overlap-2d-channels": ("avgpool2d", (2, 3, 5, 5), {"kernel": 3, "stride": (2, 1)}),
    "pad-counted-2d": ("avgpool2d", (1, 1, 4, 4), {"kernel": 3, "stride": 1, "padding": 1}),
    "pad-not-counted-2d": ("avgpool2d", (1, 1, 4, 4), {"kernel": 3, "stride": 1, "padding": 1,
                                                         "count_include_pad": False}),
    "pad-not-counted-1d-channels": ("avgpool1d", (2, 2, 6), {"kernel": 3, "stride": 2, "padding": 1,
                                                             "count_include_pad": False}),
    "ceil-1d": ("avgpool1d", (1, 1, 6), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    "ceil-2d-not-counted": ("avgpool2d", (1, 2, 5, 6), {"kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True,
                                                        "count_include_pad": False}),
    "divisor-override-2d": ("avgpool2d", (2, 1, 4, 4), {"kernel": 2, "stride": 1, "divisor_override": 3}),
    "divisor-override-1d-pad": ("avgpool1d", (1, 1, 5), {"kernel": 3, "stride": 2, "padding": 1,
                                                         "divisor_override": 2}),
    "skipped-inputs": ("avgpool1d", (1, 1, 7), {"kernel": 2, "stride": 3}),
    "adaptive-5-to-3": ("adaptive_avgpool1d", (1, 1, 5), {"output_size": 3}),
    "adaptive-7-to-3-channels": ("adaptive_avgpool1d", (2, 2, 7), {"output_size": 3}),
    "adaptive-2d": ("adaptive_avgpool2d", (2, 2, 5, 7), {"output_size": (3, 3)}),
    "adaptive-2d-global": ("adaptive_avgpool2d", (1, 2, 3, 4), {"output_size": 1}),
}
#: Layers whose pictures the quick loop draws; the others are drawn under slow.
QUICK = ("pad-not-counted-2d", "adaptive-7-to-3-channels", "divisor-override-1d-pad")


def spec_of(name):
    kind, shape, options = LAYERS[name]
    if kind.startswith("adaptive"):
        size = options["output_size"]
        return adaptive_pool_spec(kind, shape, size if isinstance(size, tuple) else (size,) * (len(shape) - 2))
    return pool_spec(kind, shape, **options)


@pytest.fixture(scope="module")
def derived():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = derive(spec_of(name))
        return cache[name]
    return get


def layer_params(names=None):
    names = sorted(LAYERS) if names is None else names
    return [pytest.param(n, marks=() if n in QUICK else pytest.mark.slow) for n in names]


# -- the independent Jacobians ---------------------------------------------------


def reference_backward(name, dy, x):
    kind, _, options = LAYERS[name]
    if kind.startswith("adaptive"):
        return reference.adaptive_avg_pool_backward(dy, x, options["output_size"])
    return reference.avg_pool_backward(dy, x, options["kernel"], options.get("stride"), options.get("padding", 0),
                                       options.get("ceil_mode", False), options.get("count_include_pad", True),
                                       options.get("divisor_override"))


def reference_jacobian(name, output_shape):
    """dy/dx from the reference kernel: row o is the backward of a one-hot dy at o, in exact fractions."""
    _, shape, _ = LAYERS[name]
    x = np.zeros(shape, dtype=object)
    rows = []
    for o in range(math.prod(output_shape)):
        dy = np.zeros(output_shape, dtype=object)
        dy.flat[o] = Fraction(1)
        rows.append(reference_backward(name, dy, x).ravel())
    return np.array(rows, dtype=object)


def torch_jacobian(name):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    kind, shape, options = LAYERS[name]
    if kind.startswith("adaptive"):
        pool = {"adaptive_avgpool1d": functional.adaptive_avg_pool1d,
                "adaptive_avgpool2d": functional.adaptive_avg_pool2d}[kind]

        def forward(x):
            return pool(x, options["output_size"])
    else:
        kernel, stride, padding = options["kernel"], options.get("stride"), options.get("padding", 0)
        flags = dict(ceil_mode=options.get("ceil_mode", False), count_include_pad=options.get("count_include_pad", True),
                     divisor_override=options.get("divisor_override"))
        if kind == "avgpool1d":  # avg_pool1d has no divisor_override: the same layer as a 2-D pool of one row

            def forward(x):
                return functional.avg_pool2d(x[:, :, None, :], (1, kernel), (1, stride or kernel), (0, padding),
                                             **flags)[:, :, 0, :]
        else:

            def forward(x):
                return functional.avg_pool2d(x, kernel, stride, padding, **flags)
    x = torch.rand(shape, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(forward, x)
    return jacobian.reshape(-1, math.prod(shape)).numpy()


def column(matrix, index, shape):
    return matrix[:, int(np.ravel_multi_index(index, shape))]


# -- the Jacobian -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_jacobian_is_the_reference_kernels_exactly(derived, name):
    d = derived(name)
    matrix = avgpool_jacobian(d)
    expected = reference_jacobian(name, d.spec.output_shape)
    assert matrix.shape == expected.shape == (math.prod(d.spec.output_shape), math.prod(d.spec.input))
    assert all(isinstance(v, Fraction) for v in matrix.ravel())
    assert (matrix == expected).all(), name
    assert (matrix != 0).any()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_jacobian_is_pytorchs(derived, name):
    matrix = avgpool_jacobian(derived(name)).astype(float)
    np.testing.assert_allclose(matrix, torch_jacobian(name), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["pad-not-counted-2d", "adaptive-7-to-3-channels"])
def test_jacobian_of_sympy_expressions_equals_the_term_table_path(derived, name):
    fast, slow = derived(name), derive(spec_of(name), method="sympy")
    assert isinstance(slow.forward, dict)
    assert (avgpool_jacobian(slow) == avgpool_jacobian(fast)).all()
    at = tuple(s // 2 for s in fast.spec.input)
    assert (avgpool_routing(slow, at) == avgpool_routing(fast, at)).all()


def test_the_pictures_read_the_derivation_not_a_divisor_formula(derived):
    """Doctored tables (every coefficient doubled) give doubled pictures: nothing recomputes 1/divisor."""
    d = derived("pad-not-counted-2d")
    doctored = dataclasses.replace(d, forward=d.forward.scaled(2),
                                   gradients={"dx": d.gradients["dx"].scaled(2)})
    assert (avgpool_jacobian(doctored) == 2 * avgpool_jacobian(d)).all()
    at = (0, 0, 1, 2)
    assert (avgpool_routing(doctored, at) == 2 * avgpool_routing(d, at)).all()


@pytest.mark.parametrize("name", layer_params())
def test_plot_jacobian_returns_the_matrix_it_draws(tmp_path, derived, name):
    d = derived(name)
    path = tmp_path / "j.png"
    drawn = plot_avgpool_jacobian(d, path, index_base=1)
    assert set(drawn) == {"x"}
    assert (drawn["x"] == reference_jacobian(name, d.spec.output_shape)).all()
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_plot_jacobian_of_a_medium_layer_draws_without_labels(tmp_path):
    d = derive(pool_spec("avgpool2d", (2, 3, 12, 12), kernel=3, stride=2, padding=1, count_include_pad=False))
    drawn = plot_avgpool_jacobian(d, tmp_path / "j.svg")
    assert drawn["x"].shape == (2 * 3 * 36, 2 * 3 * 144)
    assert "<svg" in (tmp_path / "j.svg").read_text()


def test_a_jacobian_too_large_to_draw_is_refused(tmp_path):
    spec = pool_spec("avgpool1d", (2, 50, 50), kernel=1)  # 5000 inputs in few positions: quick to derive
    with pytest.raises(SymconvError, match="plot: got a Jacobian dy/dx of 5000x5000"):
        check_avgpool_jacobian_size(spec)
    with pytest.raises(SymconvError, match="plot: got a Jacobian dy/dx of 5000x5000"):
        plot_avgpool_jacobian(derive(spec), tmp_path / "j.png")
    assert not list(tmp_path.iterdir())


# -- routing of one gradient entry ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_routing_is_the_references_column_at_every_x(derived, name):
    d = derived(name)
    expected = reference_jacobian(name, d.spec.output_shape)
    for at in np.ndindex(*d.spec.input):
        coefficients = avgpool_routing(d, at)
        assert coefficients.shape == d.spec.output_shape
        assert (coefficients.ravel() == column(expected, at, d.spec.input)).all(), (name, at)


@pytest.mark.parametrize("name", layer_params())
def test_plot_routing_highlights_the_references_column(tmp_path, derived, name):
    d = derived(name)
    expected = reference_jacobian(name, d.spec.output_shape)
    at = tuple(s // 2 for s in d.spec.input)
    drawn = plot_avgpool_routing(d, tmp_path / "r.svg", at, index_base=1)
    assert (drawn["dy"].ravel() == column(expected, at, d.spec.input)).all()
    assert drawn["covered"].ravel().tolist() == (expected != 0).sum(axis=0).tolist()
    assert [tuple(map(int, i)) for i in np.argwhere(drawn["x"])] == [at]
    assert "<svg" in (tmp_path / "r.svg").read_text()


def test_routing_of_an_input_no_window_reads(tmp_path, derived):
    d = derived("skipped-inputs")
    expected = reference_jacobian("skipped-inputs", d.spec.output_shape)
    unread = [a for a in np.ndindex(*d.spec.input) if not column(expected, a, d.spec.input).any()]
    assert unread, "the layer skips inputs"
    drawn = plot_avgpool_routing(d, tmp_path / "r.png", unread[0])
    assert not drawn["dy"].any() and drawn["covered"][unread[0]] == 0
    assert (tmp_path / "r.png").read_bytes().startswith(PNG_MAGIC)


def test_routing_reads_the_derived_gradient_and_the_jacobian_the_forward():
    """Under the mean reduction dx carries 1/N, and routing shows it; dy/dx is the forward's and does not."""
    spec = spec_of("divisor-override-2d")
    summed, mean = derive(spec), derive(spec, reduction="mean")
    batch = Fraction(1, spec.input[0])
    at = (1, 0, 2, 1)
    assert (avgpool_routing(mean, at) == batch * avgpool_routing(summed, at)).all()
    assert (avgpool_jacobian(mean) == avgpool_jacobian(summed)).all()


@pytest.mark.parametrize("at, message", [
    ((0, 0, 4, 0), r"at: got \(0, 0, 4, 0\), expected a 0-based index of x with shape \(1, 1, 4, 4\)"),
    ((1, 1), "expected a 0-based index of x"),
])
def test_routing_refuses_a_bad_index(tmp_path, derived, at, message):
    with pytest.raises(SymconvError, match=message):
        plot_avgpool_routing(derived("pad-counted-2d"), tmp_path / "r.png", at)
    assert not list(tmp_path.iterdir())


OTHERS = {
    "maxpool2d": lambda: pool_spec("maxpool2d", (1, 1, 4, 4), kernel=2),
    "adaptive_maxpool1d": lambda: adaptive_pool_spec("adaptive_maxpool1d", (1, 1, 5), (3,)),
    "avgpool3d": lambda: pool_spec("avgpool3d", (1, 1, 2, 2, 2), kernel=2),
    "conv2d": lambda: __import__("symconv.spec.conv").spec.conv.conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2)),
    "relu": lambda: __import__("symconv.spec.stack").spec.stack.stack_spec((1, 1, 4), _layers("relu")).layers[0],
    "flatten": lambda: __import__("symconv.spec.stack").spec.stack.stack_spec((1, 2, 4), _layers("flatten")).layers[0],
    "stack": lambda: __import__("symconv.spec.stack").spec.stack.stack_spec((1, 1, 4, 4),
                                                                            _layers("avgpool2d(kernel=2) | relu")),
}


def _layers(text):
    from symconv.spec.stack import parse_layers

    return parse_layers(text)


@pytest.mark.parametrize("layer", sorted(OTHERS))
def test_the_average_pictures_refuse_other_layers_in_one_line(tmp_path, layer):
    spec = OTHERS[layer]()
    d = derive(spec)
    calls = {
        "size": lambda: check_avgpool_jacobian_size(spec),
        "jacobian": lambda: avgpool_jacobian(d),
        "routing": lambda: avgpool_routing(d, (0,) * len(spec.input)),
        "plot jacobian": lambda: plot_avgpool_jacobian(d, tmp_path / "j.png"),
        "plot routing": lambda: plot_avgpool_routing(d, tmp_path / "r.png", (0,) * len(spec.input)),
    }
    for what, call in calls.items():
        with pytest.raises(SymconvError, match="layer: got .*, expected a 1-D or 2-D average pool") as caught:
            call()
        assert "\n" not in str(caught.value), what
    assert not list(tmp_path.iterdir())


# -- the layout: every text inside the picture ----------------------------------------


@pytest.mark.parametrize("what", ["jacobian", "routing"])
def test_every_text_lies_inside_the_picture(tmp_path, monkeypatch, derived, what):
    import symconv.plot.average
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figures = []
    monkeypatch.setattr(symconv.plot.average, "save", lambda figure, path, fmt: figures.append(figure))
    d = derived("ceil-2d-not-counted")
    if what == "jacobian":
        plot_avgpool_jacobian(d, tmp_path / "p.png", index_base=1)
    else:
        plot_avgpool_routing(d, tmp_path / "p.png", (0, 1, 2, 2))
    (figure,) = figures
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    box = figure.get_tightbbox(canvas.get_renderer())
    width, height = figure.get_size_inches()
    assert box.x0 >= -0.01 and box.y0 >= -0.01 and box.x1 <= width + 0.01 and box.y1 <= height + 0.01, box


# -- the plot command -------------------------------------------------------------------

COMMANDS = {
    "avgpool1d": ["avgpool1d", "--input", "1,2,7", "--kernel", "3", "--stride", "2", "--padding", "1",
                  "--no-count-include-pad"],
    "avgpool2d": ["avgpool2d", "--input", "1,1,4,4", "--kernel", "3", "--stride", "1", "--padding", "1",
                  "--divisor-override", "4"],
    "adaptive_avgpool1d": ["adaptive_avgpool1d", "--input", "1,1,7", "--output-size", "3"],
    "adaptive_avgpool2d": ["adaptive_avgpool2d", "--input", "2,1,5,7", "--output-size", "3,2"],
}
AT = {"avgpool1d": "1,2,3", "avgpool2d": "2,2", "adaptive_avgpool1d": "3", "adaptive_avgpool2d": "2,1,3,4"}


def run_plot(args):
    from symconv.cli.plot import plot

    return CliRunner().invoke(plot, args)


def picture_cases():
    cases = []
    for layer in COMMANDS:
        for kind, suffix in (("jacobian", ".png"), ("routing", ".svg"), ("jacobian", ".svg"), ("routing", ".png")):
            quick = (kind, suffix) in (("jacobian", ".png"), ("routing", ".svg"))
            cases.append(pytest.param(layer, kind, suffix, marks=() if quick else pytest.mark.slow,
                                      id=f"{layer}-{kind}{suffix}"))
    return cases


@pytest.mark.parametrize("layer, kind, suffix", picture_cases())
def test_plot_command_draws_each_average_pool(tmp_path, layer, kind, suffix):
    path = tmp_path / f"p{suffix}"
    extra = ["--kind", kind] + (["--at", AT[layer], "--index-base", "1"] if kind == "routing" else [])
    result = run_plot(COMMANDS[layer] + extra + ["-o", str(path)])
    assert result.exit_code == 0, result.output
    data = path.read_bytes()
    assert len(data) > 10_000
    assert data.startswith(PNG_MAGIC) if suffix == ".png" else b"<svg" in data


def test_plot_command_traces_the_element_at_given(tmp_path, monkeypatch):
    """--at, 1-based or full, reaches the picture as the 0-based element; the jacobian is the default kind."""
    import symconv.plot.average

    seen = []
    for name in ("plot_avgpool_routing", "plot_avgpool_jacobian"):
        original = getattr(symconv.plot.average, name)

        def wrapped(derivation, path, *args, _original=original, _name=name, **options):
            seen.append((_name, args, options))
            return _original(derivation, path, *args, **options)

        monkeypatch.setattr(symconv.plot.average, name, wrapped)
    for extra in (["--at", "2,3", "--index-base", "1"], ["--at", "0,0,1,2"]):
        result = run_plot(COMMANDS["avgpool2d"] + ["--kind", "routing"] + extra + ["-o", str(tmp_path / "r.png")])
        assert result.exit_code == 0, result.output
    assert run_plot(COMMANDS["avgpool2d"] + ["-o", str(tmp_path / "j.png")]).exit_code == 0
    assert seen == [("plot_avgpool_routing", ((0, 0, 1, 2),), {"index_base": 1}),
                    ("plot_avgpool_routing", ((0, 0, 1, 2),), {"index_base": 0}),
                    ("plot_avgpool_jacobian", (), {"index_base": 0})]


REFUSALS = {
    "values": (["--values", "ties"], "--values",
               "got --values for avgpool2d, expected it only for max pools (an average's pictures need no values)"),
    "seed": (["--seed", "1"], "--seed", "got --seed for avgpool2d, expected it only for max pools"),
    "of": (["--kind", "routing", "--at", "1,1", "--of", "dw"], "--of",
           "got --of for avgpool2d, expected it only for conv1d, conv2d, conv_transpose1d and conv_transpose2d "
           "(an average pool has no weights)"),
    "missing-at": (["--kind", "routing"], "--at", "missing, expected an element of x with --kind routing, e.g. --at 0,0"),
    "at-with-jacobian": (["--at", "1,1"], "--at", "got --at with --kind jacobian, expected --kind routing"),
    "at-outside": (["--kind", "routing", "--at", "4,0"], "--at",
                   "got '4,0', expected 0-based indices inside x of shape 1,1,4,4"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_plot_command_refuses_in_one_line_with_exit_2(tmp_path, monkeypatch, name):
    import symconv.engine.derive
    from symconv.cli.app import SymconvGroup
    from symconv.cli.plot import plot

    def no_derivation(*args, **kwargs):
        raise AssertionError("derived before the refusal")

    monkeypatch.setattr(symconv.engine.derive, "derive", no_derivation)
    extra, option, message = REFUSALS[name]
    group = SymconvGroup(commands={"plot": plot})
    result = CliRunner().invoke(group, ["plot"] + COMMANDS["avgpool2d"] + extra + ["-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith(f"Error: Invalid value for '{option}'")
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("args, message", [
    (["avgpool1d", "--input", "1,1,5000", "--kernel", "1"], "plot: got a Jacobian dy/dx of 5000x5000, expected at most 4096"),
    (["adaptive_avgpool2d", "--input", "1,1,80,80", "--output-size", "70"], "plot: got a Jacobian dy/dx of 4900x6400"),
    (["avgpool2d", "--input", "1,3,512,512", "--kernel", "9", "--stride", "1"], "max-terms: this layer needs about"),
], ids=["jacobian-too-large", "adaptive-jacobian-too-large", "over-max-terms"])
def test_plot_command_refuses_a_layer_too_large_before_deriving(tmp_path, args, message):
    """Refused in one line, exit 2, with neither SymPy loaded nor anything derived."""
    code = (
        "import sys\n"
        "import symconv.engine.derive\n"
        "def no_derivation(*args, **kwargs):\n"
        "    raise AssertionError('derived before the refusal')\n"
        "symconv.engine.derive.derive = no_derivation\n"
        "from symconv.cli.app import cli\n"
        "try:\n"
        f"    cli.main({['plot'] + args + ['-o', str(tmp_path / 'p.png')]!r})\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 2, exit.code\n"
        "assert 'sympy' not in sys.modules, 'SymPy imported before the refusal'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert message in " ".join(result.stderr.split())
    assert result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "p.png").exists()
