"""Tests for symconv.plot.jacobian and the ``plot`` command: the pictures show the derived expressions.

The sparsity a Jacobian picture draws must be the dependency structure of the
derived forward (which elements each y contains), and a routing picture must
highlight exactly the atoms of the chosen gradient entry: both are checked
against the SymPy expressions themselves, on a table of small layers.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import Indexed

pytest.importorskip("matplotlib", reason="pictures need matplotlib (the 'plot' or 'test' extra)")

from symconv.engine.derive import derive  # noqa: E402
from symconv.errors import SymconvError  # noqa: E402
from symconv.plot.jacobian import (  # noqa: E402
    gradient_routing,
    gradient_terms,
    jacobian_sparsity,
    plot_jacobian,
    plot_routing,
)
from symconv.plot.routing import maxpool_routing  # noqa: E402
from symconv.plot.pool import plot_maxpool_routing  # noqa: E402
from symconv.spec.conv import conv_spec  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

LAYERS = {
    "1d-seed": ("conv1d", (1, 1, 4), (1, 1, 2), {}),
    "2d-seed-4x4": ("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), {}),
    "stride2-5x5": ("conv2d", (1, 1, 5, 5), (1, 1, 3, 3), {"stride": 2}),
    "padding1": ("conv2d", (1, 1, 3, 3), (1, 1, 2, 2), {"padding": 1}),
    "dilation2": ("conv1d", (1, 1, 7), (1, 1, 3), {"dilation": 2, "padding": "same"}),
    "channels": ("conv2d", (2, 2, 3, 3), (3, 2, 2, 2), {"stride": (2, 1)}),
    "groups": ("conv2d", (1, 4, 3, 3), (2, 2, 2, 2), {"groups": 2, "bias": False}),
    "skipped-inputs": ("conv1d", (1, 1, 5), (1, 1, 1), {"stride": 2}),
}


@pytest.fixture(params=sorted(LAYERS), scope="module")
def derivation(request):
    kind, x, w, options = LAYERS[request.param]
    return derive(conv_spec(kind, x, w, **options))


def atoms_of(expr, name):
    """The indices of the ``name`` elements in a SymPy expression."""
    return {tuple(int(i) for i in a.indices) for a in expr.atoms(Indexed) if a.base.name == name}


def marked(array):
    return {tuple(int(i) for i in index) for index in np.argwhere(array)}


# -- Jacobian sparsity -------------------------------------------------------


@pytest.mark.parametrize("wrt", ["x", "w"])
def test_jacobian_sparsity_is_the_forwards_dependency_structure(derivation, wrt):
    matrix = jacobian_sparsity(derivation, wrt)
    shape = derivation.shapes[wrt]
    outputs = list(np.ndindex(*derivation.spec.output_shape))
    assert matrix.shape == (len(outputs), int(np.prod(shape)))
    for row, index in enumerate(outputs):
        expected = atoms_of(derivation.forward[index], wrt)
        assert {np.unravel_index(c, shape) for c in np.flatnonzero(matrix[row])} == expected


def test_jacobian_of_sympy_expressions_equals_the_term_table_path():
    spec = conv_spec("conv2d", (1, 2, 4, 4), (2, 2, 2, 2), stride=2, padding=1)
    fast, slow = derive(spec), derive(spec, method="sympy")
    for wrt in ("x", "w"):
        np.testing.assert_array_equal(jacobian_sparsity(fast, wrt), jacobian_sparsity(slow, wrt))


def test_jacobian_of_the_1d_seed_is_the_banded_matrix_of_the_post():
    d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
    # dy/dx = [[w1 w2 0 0], [0 w1 w2 0], [0 0 w1 w2]]; dy/dw = [[x1 x2], [x2 x3], [x3 x4]]
    assert jacobian_sparsity(d, "x").astype(int).tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    assert jacobian_sparsity(d, "w").all()


@pytest.mark.parametrize("name", ["1d-seed", "stride2-5x5", "groups"])
def test_plot_jacobian_returns_the_matrices_it_draws(tmp_path, name):
    kind, x, w, options = LAYERS[name]
    derivation = derive(conv_spec(kind, x, w, **options))
    matrices = plot_jacobian(derivation, tmp_path / "j.png")
    for wrt in ("x", "w"):
        np.testing.assert_array_equal(matrices[wrt], jacobian_sparsity(derivation, wrt))
    assert (tmp_path / "j.png").read_bytes().startswith(PNG_MAGIC)


def test_plot_jacobian_of_a_medium_layer_draws_without_labels(tmp_path):
    d = derive(conv_spec("conv2d", (1, 3, 8, 8), (4, 3, 3, 3), padding=1))
    matrices = plot_jacobian(d, tmp_path / "j.svg")
    assert matrices["x"].shape == (4 * 64, 3 * 64)
    assert "<svg" in (tmp_path / "j.svg").read_text()


def test_jacobian_too_large_to_draw_is_refused(tmp_path):
    d = derive(conv_spec("conv1d", (1, 1, 5000), (1, 1, 1)))
    with pytest.raises(SymconvError, match="plot: got a Jacobian dy/dx of 5000x5000"):
        plot_jacobian(d, tmp_path / "j.png")


WEIGHTLESS = {
    "maxpool2d": "maxpool2d(kernel=2)",
    "avgpool1d": "avgpool1d(kernel=2)",
    "relu": "relu",
    "stack": "conv2d(weight=1,1,2,2) | relu",
}


@pytest.mark.parametrize("layer", WEIGHTLESS)
def test_the_conv_pictures_refuse_a_layer_without_weights_in_one_line(tmp_path, layer):
    from symconv.plot.jacobian import check_jacobian_size
    from symconv.spec.stack import parse_layers, stack_spec

    stack = parse_layers(WEIGHTLESS[layer])
    shape = (1, 1, 4) if layer == "avgpool1d" else (1, 1, 4, 4)
    spec = stack_spec(shape, stack) if layer == "stack" else stack_spec(shape, stack).layers[0]
    d = derive(spec)
    message = f"layer: got {spec.kind}, expected a layer with weights"
    calls = {
        "jacobian": lambda: plot_jacobian(d, tmp_path / "j.png"),
        "routing": lambda: plot_routing(d, tmp_path / "r.png", (0,) * len(shape)),
        "size": lambda: check_jacobian_size(spec),
        "terms": lambda: gradient_routing(d, (0,) * len(shape)),
    }
    for name, call in calls.items():
        with pytest.raises(SymconvError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value), name
    assert not list(tmp_path.iterdir())


# -- routing of one gradient entry ----------------------------------------------


@pytest.mark.parametrize("of", ["dx", "dw"])
def test_routing_highlights_exactly_the_atoms_of_the_gradient_entry(derivation, of):
    tensor = of[1:]
    for at in np.ndindex(*derivation.shapes[tensor]):
        expr = derivation.gradients[of][at]
        highlighted = gradient_routing(derivation, at, of)
        for name in ("x", "w", "dy"):
            assert marked(highlighted[name]) == atoms_of(expr, name), (of, at, name)


@pytest.mark.parametrize("of", ["dx", "dw"])
def test_plot_routing_returns_what_it_highlights(tmp_path, derivation, of):
    at = tuple(s // 2 for s in derivation.shapes[of[1:]])
    highlighted = plot_routing(derivation, tmp_path / "r.png", at, of=of, index_base=1)
    expr = derivation.gradients[of][at]
    assert {name: marked(a) for name, a in highlighted.items()} == {
        name: atoms_of(expr, name) for name in ("x", "w", "dy")
    }
    assert (tmp_path / "r.png").read_bytes().startswith(PNG_MAGIC)


def test_routing_of_the_seeds_dx22_pairs_dy_with_the_rotated_filter():
    d = derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2)))
    terms = gradient_terms(d, (0, 0, 1, 1))  # the seeds' dx_22, 1-based
    pairs = [(dict(t)["dy"][2:], dict(t)["w"][2:]) for t in terms]
    assert pairs == [((0, 0), (1, 1)), ((0, 1), (1, 0)), ((1, 0), (0, 1)), ((1, 1), (0, 0))]


def test_routing_of_an_input_no_window_reads(tmp_path):
    d = derive(conv_spec("conv1d", (1, 1, 5), (1, 1, 1), stride=2))
    highlighted = plot_routing(d, tmp_path / "r.svg", (0, 0, 1))
    assert d.gradients["dx"][(0, 0, 1)] == 0
    assert not any(a.any() for a in highlighted.values())
    assert (tmp_path / "r.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("at, of, message", [
    ((0, 0, 9, 0), "dx", "at: got (0, 0, 9, 0), expected a 0-based index of x with shape (1, 1, 4, 4)"),
    ((1, 1), "dx", "expected a 0-based index of x"),
    ((0, 0, 0, 0), "db", "of: got 'db'"),
])
def test_routing_refuses_a_bad_index(tmp_path, at, of, message):
    d = derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2)))
    with pytest.raises(SymconvError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plot_routing(d, tmp_path / "r.png", at, of=of)


@pytest.mark.parametrize("name", ["r.jpg", "r", "r.pdf"])
def test_picture_formats_are_chosen_by_extension(tmp_path, name):
    d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
    with pytest.raises(SymconvError, match="expected a file name ending in .png or .svg"):
        plot_jacobian(d, tmp_path / name)
    assert not (tmp_path / name).exists()


# -- max pooling on numbers ----------------------------------------------------


def test_maxpool_routing_of_a_constant_input_ties_every_window(tmp_path):
    routing = plot_maxpool_routing(np.full((4, 6), 3.0), 2, 2, tmp_path / "p.png")
    assert routing.ties.shape == (2, 3) and routing.ties.all()
    # The first maximum in row-major order is the window's top-left cell.
    assert routing.winners.tolist() == [[[0, 0], [0, 2], [0, 4]], [[2, 0], [2, 2], [2, 4]]]
    assert routing.received.sum() == 6 and routing.received.max() == 1
    assert (tmp_path / "p.png").read_bytes().startswith(PNG_MAGIC)


def test_maxpool_routing_marks_only_tied_windows():
    x = np.array([[1.0, 5.0, 2.0, 2.0],
                  [3.0, 4.0, 0.0, 1.0]])
    routing = maxpool_routing(x, 2, 2)
    assert routing.ties.tolist() == [[False, True]]
    assert routing.winners.tolist() == [[[0, 1], [0, 2]]]


def test_maxpool_routing_of_overlapping_windows_adds_up():
    routing = maxpool_routing(np.array([2.0, 2.0, 1.0, 2.0]), 2, 1)  # 1-D: one row
    assert routing.winners[0, :, 1].tolist() == [0, 1, 3]
    assert routing.ties.tolist() == [[True, False, False]]


def test_maxpool_routing_sends_dy_where_the_reference_backward_does():
    from symconv.reference.maxpool import max_pool_backward

    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(7, 7)).astype(float)  # small integers: many ties
    dy = rng.standard_normal((3, 3))
    routing = maxpool_routing(x, 3, 2)
    dx = np.zeros_like(x)
    for (i, j), (r, c) in zip(np.ndindex(3, 3), routing.winners.reshape(-1, 2)):
        dx[r, c] += dy[i, j]
    np.testing.assert_array_equal(dx, max_pool_backward(dy[None, None], x[None, None], 3, stride=2)[0, 0])


@pytest.mark.parametrize("x, kernel, stride, pattern", [
    (np.ones((2, 2, 2)), 2, 2, r"expected a 1-D or 2-D input"),
    # The layer's own checks (symconv.spec.pool) word these.
    (np.ones((3, 3)), 4, 1, r"kernel: got '?4'?, whose extent 4 .*larger than the padded input 3"),
    (np.ones((3, 3)), 2, 0, r"stride: got '?0'?, expected positive integers"),
    (np.ones((3, 3)), 1.5, 1, r"kernel: got '?1\.5'?, expected an integer"),
], ids=["3-d", "kernel-too-big", "stride-0", "kernel-not-int"])
def test_maxpool_routing_refuses_bad_input(x, kernel, stride, pattern):
    with pytest.raises(SymconvError, match=pattern):
        maxpool_routing(x, kernel, stride)


# -- max pooling on a layer's x: the picture is the derived gradient at the values ----

POOLS = {
    "1d-overlap": ("maxpool1d", (1, 1, 6), {"kernel": 3, "stride": 1}),
    "2d-seed-4x4": ("maxpool2d", (1, 1, 4, 4), {"kernel": 2}),
    "2d-overlap": ("maxpool2d", (1, 1, 5, 5), {"kernel": 3, "stride": 1}),
    "padding-channels": ("maxpool2d", (2, 3, 5, 5), {"kernel": 3, "stride": 2, "padding": 1}),
    "dilation": ("maxpool2d", (1, 1, 6, 6), {"kernel": 2, "stride": 1, "dilation": 2}),
    "ceil-mode": ("maxpool2d", (1, 2, 5, 5), {"kernel": 2, "ceil_mode": True}),
    "uncovered-inputs": ("maxpool2d", (1, 1, 5, 5), {"kernel": 2}),
    "1d-padding": ("maxpool1d", (2, 1, 7), {"kernel": 2, "padding": 1}),
}


def pool_layer(name):
    from symconv.spec.pool import pool_spec

    kind, shape, options = POOLS[name]
    return pool_spec(kind, shape, **options)


@pytest.fixture(params=sorted(POOLS), scope="module")
def pool(request):
    spec = pool_layer(request.param)
    return spec, derive(spec)


VALUES = ["ties", "distinct", "constant", "random-floats"]


def values_of(spec, kind, seed=0):
    from symconv.plot.routing import pool_values

    if kind == "constant":  # every window tied
        return np.full(spec.input, 2.0)
    if kind == "random-floats":
        return np.random.default_rng(seed).standard_normal(spec.input)
    return pool_values(spec, kind, seed)


def reference_receivers(spec, x):
    """Each output's receiver by the reference kernel: its backward of a one-hot dy."""
    from symconv.reference.maxpool import max_pool_backward

    receivers = {}
    for o in np.ndindex(*spec.output_shape):
        dy = np.zeros(spec.output_shape)
        dy[o] = 1.0
        dx = max_pool_backward(dy, x, spec.kernel, spec.stride, spec.padding, spec.dilation, spec.ceil_mode)
        receivers[o] = [tuple(int(i) for i in index) for index in np.argwhere(dx)]
    return receivers


@pytest.mark.parametrize("kind", VALUES)
def test_derived_routing_is_the_reference_backward_ties_included(pool, kind):
    from symconv.plot.routing import derived_receivers, derived_routing, route_values

    spec, derivation = pool
    x = values_of(spec, kind)
    expected = reference_receivers(spec, x)
    assert derived_receivers(derivation, x) == expected
    routing = derived_routing(derivation, x)
    assert {o: [tuple(map(int, routing.winners[o]))] for o in expected} == expected
    numbers = route_values(spec, x)  # PyTorch's rule on the numbers alone agrees
    np.testing.assert_array_equal(numbers.winners, routing.winners)
    np.testing.assert_array_equal(numbers.ties, routing.ties)
    np.testing.assert_array_equal(routing.received.sum(), math.prod(spec.output_shape))


def test_ties_are_the_windows_whose_maximum_repeats(pool):
    from symconv.plot.routing import derived_routing

    spec, derivation = pool
    x = values_of(spec, "ties")
    routing = derived_routing(derivation, x)
    windows = dict(windows_of(spec))
    for o, taps in windows.items():
        top = max(x[t] for t in taps)
        best = [t for t in taps if x[t] == top]
        assert routing.ties[o] == (len(best) > 1)
        if len(best) > 1:
            assert routing.maxima[o] == tuple(best)  # the winner first: the first in scan order


def windows_of(spec):
    from symconv.plot.routing import _windows

    return _windows(spec)


def test_values_ties_tie_a_window_of_the_first_slice_and_distinct_none(pool):
    from symconv.plot.routing import route_values

    spec, _ = pool
    ties = route_values(spec, values_of(spec, "ties")).ties
    assert ties[0, 0].any()
    assert not route_values(spec, values_of(spec, "distinct")).ties.any()
    assert sorted(values_of(spec, "distinct").ravel()) == list(range(1, math.prod(spec.input) + 1))


@pytest.mark.parametrize("kind", ["ties", "distinct"])
def test_values_are_drawn_from_the_seed_alone(pool, kind):
    from symconv.plot.routing import pool_values

    spec, _ = pool
    first = pool_values(spec, kind, seed=3)
    np.random.seed(1)  # NumPy's global generator, and other draws in between, must not leak in
    np.random.random(5)
    pool_values(spec, kind, seed=4)
    np.testing.assert_array_equal(pool_values(spec, kind, seed=3), first)
    # Another seed draws other values (for at least one of four seeds, on layers of 6 inputs or more).
    assert any(not np.array_equal(pool_values(spec, kind, seed=seed), first) for seed in (0, 1, 2, 4))
    if kind == "ties":  # the levels the docstring promises: integers 0 to 4
        assert set(np.unique(first)) <= {0.0, 1.0, 2.0, 3.0, 4.0}


@pytest.mark.parametrize("name", ["ties-in-no-window-by-chance"] + [f"seed-{seed}" for seed in range(8)])
def test_values_ties_force_a_tie_when_the_draw_has_none(name):
    from symconv.plot.routing import pool_values, route_values
    from symconv.spec.pool import pool_spec

    spec = pool_spec("maxpool1d", (1, 1, 4), kernel=2)  # two windows of two: often no tie
    seed = 0 if name.startswith("ties") else int(name.split("-")[1])
    assert route_values(spec, pool_values(spec, "ties", seed)).ties.any()


def test_a_window_of_one_tap_cannot_tie():
    from symconv.plot.routing import pool_values, route_values
    from symconv.spec.pool import pool_spec

    spec = pool_spec("maxpool2d", (1, 1, 3, 3), kernel=1)
    assert not route_values(spec, pool_values(spec, "ties")).ties.any()


def test_plot_pool_routing_draws_the_derived_receivers(tmp_path, pool):
    check_pool_routing_picture(tmp_path, pool, "pool.png")


def test_plot_pool_routing_writes_svg(tmp_path):
    spec = pool_layer("2d-overlap")
    check_pool_routing_picture(tmp_path, (spec, derive(spec)), "pool.svg")


def check_pool_routing_picture(tmp_path, pool, name):
    from symconv.plot.pool import plot_pool_routing

    spec, derivation = pool
    x = values_of(spec, "ties")
    routing = plot_pool_routing(derivation, x, tmp_path / name, index_base=1, note="ties, seed 0")
    expected = reference_receivers(spec, x)
    assert {o: [tuple(map(int, routing.winners[o]))] for o in expected} == expected
    data = (tmp_path / name).read_bytes()
    assert data.startswith(PNG_MAGIC) if name.endswith(".png") else b"<svg" in data


def test_plot_pool_jacobian_is_dy_dx_at_the_values(tmp_path, pool):
    from symconv.plot.pool import plot_pool_jacobian

    spec, derivation = pool
    x = values_of(spec, "ties")
    matrices = plot_pool_jacobian(derivation, x, tmp_path / "j.png")
    expected = reference_receivers(spec, x)
    for row, o in enumerate(np.ndindex(*spec.output_shape)):
        assert {np.unravel_index(c, spec.input) for c in np.flatnonzero(matrices["x"][row])} == set(expected[o])
        assert ({np.unravel_index(c, spec.input) for c in np.flatnonzero(matrices["window"][row])}
                == atoms_of(derivation.forward[o], "x"))
    assert (matrices["x"] <= matrices["window"]).all()
    assert (tmp_path / "j.png").read_bytes().startswith(PNG_MAGIC)


def test_derived_routing_refuses_values_of_the_wrong_size():
    from symconv.plot.routing import derived_routing

    spec = pool_layer("2d-seed-4x4")
    with pytest.raises(SymconvError, match="values: got 15 numbers from values, expected 16, the input 1x1x4x4"):
        derived_routing(derive(spec), np.ones(15))
    with pytest.raises(SymconvError, match="not finite"):
        derived_routing(derive(spec), np.full((1, 1, 4, 4), np.nan))


def test_pool_pictures_refuse_other_layers(tmp_path):
    from symconv.plot.pool import plot_pool_routing
    from symconv.spec.pool import pool_spec

    d = derive(pool_spec("avgpool2d", (1, 1, 4, 4), kernel=2))
    with pytest.raises(SymconvError, match="layer: got 'avgpool2d', expected a 1-D or 2-D max pool"):
        plot_pool_routing(d, np.ones((1, 1, 4, 4)), tmp_path / "p.png")


# -- the layout: every text inside the picture ------------------------------------


def drawn_figures(monkeypatch):
    """Collect each figure symconv saves, saved as it would be without the tight box."""
    import symconv.plot.jacobian
    import symconv.plot.pool

    figures = []

    def save(figure, path, fmt):
        figures.append(figure)
        figure.savefig(path, format=fmt, dpi=symconv.plot.jacobian.DPI)

    monkeypatch.setattr(symconv.plot.jacobian, "save", save)
    monkeypatch.setattr(symconv.plot.pool, "save", save)
    return figures


PICTURES = {
    "jacobian-big": lambda p: plot_jacobian(derive(conv_spec("conv2d", (2, 3, 8, 8), (4, 3, 3, 3))), p),
    "jacobian-seed": lambda p: plot_jacobian(derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))), p, 1),
    "jacobian-channels": lambda p: plot_jacobian(derive(conv_spec("conv2d", (2, 2, 3, 3), (3, 2, 2, 2))), p),
    "jacobian-full-names": lambda p: plot_jacobian(derive(conv_spec("conv2d", (1, 2, 3, 3), (2, 2, 2, 2))), p),
    "routing-dx": lambda p: plot_routing(derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))), p, (0, 0, 1, 1)),
    "routing-dw": lambda p: plot_routing(derive(conv_spec("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), padding=1)), p,
                                         (1, 2, 1, 1), of="dw"),
    "maxpool-routing": lambda p: plot_maxpool_routing(np.array([[1.0, 3, 3], [2, 0, 3]]), 2, 1, p),
    "maxpool-channels": lambda p: __import__("symconv.plot.pool").plot.pool.plot_pool_routing(
        derive(pool_layer("padding-channels")), values_of(pool_layer("padding-channels"), "ties"), p),
    "maxpool-jacobian-big": lambda p: __import__("symconv.plot.pool").plot.pool.plot_pool_jacobian(
        derive(pool_layer("ceil-mode")), values_of(pool_layer("ceil-mode"), "ties"), p),
}


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_every_text_lies_inside_the_picture(tmp_path, monkeypatch, name):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figures = drawn_figures(monkeypatch)
    PICTURES[name](tmp_path / "p.png")
    (figure,) = figures
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    box = figure.get_tightbbox(canvas.get_renderer())  # inches, every artist drawn
    width, height = figure.get_size_inches()
    assert box.x0 >= -0.01 and box.y0 >= -0.01, (box, width, height)
    assert box.x1 <= width + 0.01 and box.y1 <= height + 0.01, (box, width, height)


# -- matplotlib stays optional and out of pyplot's global state ------------------


def test_symconv_imports_no_matplotlib_and_plots_without_pyplot(tmp_path):
    code = (
        "import sys\n"
        "import symconv, symconv.plot.jacobian, symconv.cli.plot, symconv.printing.jupyter, symconv.plot.pdf\n"
        "assert 'matplotlib' not in sys.modules, 'imported at symconv import time'\n"
        "from symconv.spec.conv import conv_spec\n"
        "from symconv.engine.derive import derive\n"
        f"symconv.plot.jacobian.plot_jacobian(derive(conv_spec('conv1d', (1, 1, 4), (1, 1, 2))), r'{tmp_path / 'j.png'}')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot state touched'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # matplotlib's own default
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# -- the plot command -----------------------------------------------------------


def run_plot(args):
    from symconv.cli.plot import plot

    return CliRunner().invoke(plot, args)


SEED = ["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2"]


@pytest.mark.parametrize("extra, name", [
    (["--kind", "jacobian"], "j.png"),
    (["--kind", "routing", "--at", "2,2", "--index-base", "1"], "r.svg"),
    (["--kind", "routing", "--at", "0,0,1,1"], "r.png"),
    (["--kind", "routing", "--at", "1,0", "--of", "dw"], "rw.png"),
])
def test_plot_command_writes_the_picture(tmp_path, extra, name):
    result = run_plot(SEED + extra + ["-o", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    data = (tmp_path / name).read_bytes()
    assert data.startswith(PNG_MAGIC) if name.endswith(".png") else b"<svg" in data


@pytest.mark.parametrize("extra, fragment", [
    (["--kind", "routing", "--at", "4,0"], "got '4,0', expected 0-based indices inside x of shape 1,1,4,4"),
    (["--kind", "routing", "--at", "0,0", "--index-base", "1"], "expected 1-based indices inside x"),
    (["--kind", "routing", "--at", "1,1,1"], "got '1,1,1', expected N,C,I,J or I,J"),
    (["--kind", "routing", "--at", "a,b"], "got 'a,b', expected comma-separated integers N,C,I,J"),
    (["--kind", "routing", "--at", "2,2", "--of", "dw"], "inside w of shape 1,1,2,2"),
    (["--kind", "routing"], "missing, expected an element of x with --kind routing"),
    (["--kind", "jacobian", "--at", "1,1"], "got --at with --kind jacobian"),
    (["--kind", "jacobian", "--of", "dw"], "got --of with --kind jacobian"),
])
def test_plot_command_refuses_bad_at_with_exit_2(tmp_path, extra, fragment):
    result = run_plot(SEED + extra + ["-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2
    assert fragment in " ".join(result.output.split())
    assert not (tmp_path / "p.png").exists()


def test_plot_command_needs_all_axes_when_there_are_channels(tmp_path):
    result = run_plot(["conv2d", "--input", "1,2,4,4", "--weight", "1,2,2,2", "--kind", "routing",
                       "--at", "1,1", "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2
    assert "expected N,C,I,J (an index of x, shape 1,2,4,4)" in " ".join(result.output.split())


@pytest.mark.parametrize("args, fragment", [
    (SEED + ["-o", "picture.gif"], "expected a file name ending in .png or .svg"),
    (SEED + ["-o", "/no/such/dir/p.png"], "expected a file in an existing directory"),
    (["conv2d", "--input", "1,1,4,4", "--weight", "1,1,5,5", "-o", "p.png"], "weight: got '1,1,5,5'"),
    (["conv1d", "--input", "1,1,9000", "--weight", "1,1,1", "-o", "p.png"], "expected at most 4096 rows"),
])
def test_plot_command_refuses_bad_options_with_exit_2(args, fragment):
    result = run_plot(args)
    assert result.exit_code == 2
    assert fragment in " ".join(result.output.split())


def test_plot_command_in_the_main_group_prints_one_line(tmp_path):
    from symconv.cli.app import SymconvGroup
    from symconv.cli.plot import plot

    group = SymconvGroup(commands={"plot": plot})
    result = CliRunner().invoke(group, ["plot"] + SEED + ["--kind", "routing", "--at", "9,9", "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: Invalid value for '--at'")


# -- the plot command for max pooling ---------------------------------------------

POOL_SEED = ["maxpool2d", "--input", "1,1,4,4", "--kernel", "2"]


@pytest.mark.parametrize("extra, name", [
    (["--kind", "routing"], "r.png"),
    (["--kind", "routing", "--values", "distinct", "--seed", "2", "--index-base", "1"], "r.svg"),
    (["--kind", "jacobian", "--values", "ties", "--seed", "5"], "j.png"),
    ([], "j.svg"),
], ids=["routing-ties", "routing-distinct", "jacobian", "default-kind"])
def test_plot_command_draws_max_pooling(tmp_path, extra, name):
    result = run_plot(POOL_SEED + extra + ["-o", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    data = (tmp_path / name).read_bytes()
    assert data.startswith(PNG_MAGIC) if name.endswith(".png") else b"<svg" in data


def capture_pool_pictures(monkeypatch):
    """Record what the plot command passes to the max-pool pictures, and what they return."""
    import symconv.plot.pool

    calls = []
    for name in ("plot_pool_routing", "plot_pool_jacobian"):
        original = getattr(symconv.plot.pool, name)

        def wrapped(derivation, x, path, _original=original, **options):
            result = _original(derivation, x, path, **options)
            calls.append((derivation.spec, np.asarray(x), options["note"], result))
            return result

        monkeypatch.setattr(symconv.plot.pool, name, wrapped)
    return calls


X_1D = [1.0, 3.0, 3.0, 2.0, 0.0, 2.0]


@pytest.mark.parametrize("source, note", [
    ("1,3,3,2,0,2", "as given"),
    ("1 3 3 2 0 2", "as given"),
    ("txt", "from x.txt"),
    ("npy", "from x.npy"),
])
def test_plot_command_reads_values_and_draws_their_receivers(tmp_path, monkeypatch, source, note):
    calls = capture_pool_pictures(monkeypatch)
    if source == "txt":
        (tmp_path / "x.txt").write_text("# x of the layer\n1, 3, 3\n2 0 2  # the second half\n")
        source = str(tmp_path / "x.txt")
    elif source == "npy":
        np.save(tmp_path / "x.npy", np.array(X_1D).reshape(1, 1, 6))
        source = str(tmp_path / "x.npy")
    args = ["maxpool1d", "--input", "1,1,6", "--kernel", "3", "--stride", "1", "--kind", "routing",
            "--values", source, "-o", str(tmp_path / "r.png")]
    result = run_plot(args)
    assert result.exit_code == 0, result.output
    ((spec, x, told, routing),) = calls
    assert x.ravel().tolist() == X_1D and told == note
    # 1 3 3 2 0 2, windows of three: the first 3 wins both tied windows, then 3, then the first 2.
    assert routing.winners[0, 0, :, 2].tolist() == [1, 1, 2, 3]
    assert routing.ties[0, 0].tolist() == [True, True, False, True]
    assert {o: [tuple(map(int, routing.winners[o]))] for o in np.ndindex(*spec.output_shape)} == \
        reference_receivers(spec, x)


def test_plot_command_draws_the_default_values_with_a_tie(tmp_path, monkeypatch):
    calls = capture_pool_pictures(monkeypatch)
    result = run_plot(POOL_SEED + ["--kind", "routing", "-o", str(tmp_path / "r.png")])
    assert result.exit_code == 0, result.output
    ((spec, x, note, routing),) = calls
    assert note == "ties, seed 0" and routing.ties.any()
    assert {o: [tuple(map(int, routing.winners[o]))] for o in np.ndindex(*spec.output_shape)} == \
        reference_receivers(spec, x)


def bad_npy(tmp_path, kind):
    path = tmp_path / f"{kind}.npy"
    if kind == "strings":
        np.save(path, np.array(["a"] * 16))
    else:  # an object array needs pickles, which are never loaded
        np.save(path, np.array([{"a": 1}] * 16, dtype=object), allow_pickle=True)
    return str(path)


@pytest.mark.parametrize("extra, fragment", [
    (["--values", "foo"], "got 'foo', expected ties, distinct, numbers such as 1,5,2,2 (row-major), "
                          "or an existing .npy or text file"),
    (["--values", "1,2,3"], "values: got 3 numbers from --values, expected 16, the input 1x1x4x4 in row-major order"),
    (["--values", "1,2,3,1/0"], "values: got '1/0' in --values, expected numbers such as 2, -0.5 or 1/3"),
    (["--values", "1,2,3,4", "--seed", "1"], "got --seed with --values '1,2,3,4', expected it only with ties or distinct"),
    (["--values", "strings.npy"], "holding <U1, expected real numbers"),
    (["--values", "objects.npy"], "expected a .npy file of plain numbers (read without pickles"),
    (["--values", "latin1.txt"], "expected a text file of numbers ('utf-8' codec can't decode"),
    (["--values", "nan.txt"], "values: got 'nan' in"),
    (["--seed", "-1"], "Invalid value for '--seed': -1 is not in the range x>=0"),
    (["--kind", "routing", "--at", "1,1"], "got --at for maxpool2d, expected it only for conv1d, conv2d, conv_transpose1d, "
                                           "conv_transpose2d and the average pools"),
    (["--kind", "routing", "--of", "dw"], "got --of for maxpool2d, expected it only for conv1d, conv2d, conv_transpose1d and conv_transpose2d"),
], ids=["word", "too-few", "division-by-zero", "seed-with-numbers", "npy-strings", "npy-pickle", "not-utf8",
        "nan", "negative-seed", "at", "of"])
def test_plot_command_refuses_bad_pool_options_with_exit_2(tmp_path, extra, fragment):
    extra = list(extra)
    for position, word in enumerate(extra):
        if word.endswith(".npy"):
            extra[position] = bad_npy(tmp_path, word[:-4])
        elif word == "nan.txt":
            (tmp_path / word).write_text(" ".join(["nan"] * 16))
            extra[position] = str(tmp_path / word)
        elif word == "latin1.txt":
            (tmp_path / word).write_bytes("1 2 3 \u00b0".encode("latin-1"))
            extra[position] = str(tmp_path / word)
    result = run_plot(POOL_SEED + extra + ["-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2
    assert fragment in " ".join(result.output.split())
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("args, fragment", [
    (SEED + ["--values", "ties"], "got --values for conv2d, expected it only for max pools"),
    (SEED + ["--seed", "1"], "got --seed for conv2d, expected it only for max pools"),
    (["avgpool3d", "--input", "1,1,4,4,4", "--kernel", "2"], "'avgpool3d' is not one of"),
    (["maxpool1d", "--input", "1,1,5000", "--kernel", "1"], "plot: got a Jacobian dy/dx of 5000x5000"),
    (POOL_SEED + ["--weight", "1,1,2,2"], "expected no weight for maxpool2d"),
    (["maxpool2d", "--input", "1,3,256,256", "--kernel", "7"], "max-terms: this layer needs about"),
], ids=["conv-values", "conv-seed", "avgpool3d", "too-large", "weight", "over-max-terms"])
def test_plot_command_refuses_options_a_layer_does_not_take(tmp_path, args, fragment):
    result = run_plot(args + ["-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2
    assert fragment in " ".join(result.output.split())


def test_explore_notebook_draws_a_max_pool():
    """The notebook's parameter cell set to a max pool (its default, a convolution, runs in test_notebooks)."""
    from pathlib import Path

    nbformat = pytest.importorskip("nbformat", reason="notebooks need nbformat (comes with nbmake, the 'test' extra)")
    nbclient = pytest.importorskip("nbclient", reason="notebooks need nbclient (comes with nbmake, the 'test' extra)")
    folder = Path(__file__).resolve().parent.parent / "notebooks"
    notebook = nbformat.read(folder / "explore.ipynb", as_version=4)
    (parameters,) = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    for old, new in (('kind = "conv2d"', 'kind = "maxpool2d"'), ("stride = 1 ", "stride = None "),
                     ("padding = 1 ", "padding = 0 ")):
        assert old in parameters.source
        parameters.source = parameters.source.replace(old, new)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert sum("image/png" in output.get("data", {}) for output in outputs) == 2  # routing and dy/dx
    assert any("all checks passed" in output.get("data", {}).get("text/html", "") for output in outputs)


def test_the_picture_suffixes_are_the_plot_modules():
    from symconv.cli.plot import PICTURE_SUFFIXES
    from symconv.plot.jacobian import PICTURE_FORMATS

    assert PICTURE_SUFFIXES == tuple(PICTURE_FORMATS)


@pytest.mark.parametrize("args", [
    ["maxpool2d", "--input", "1,3,256,256", "--kernel", "7", "-o", "p.png"],
    ["conv2d", "--input", "1,3,256,256", "--weight", "64,3,7,7", "-o", "p.png"],
    ["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "-o", "p.gif"],
], ids=["maxpool-over-max-terms", "conv-over-max-terms", "bad-suffix"])
def test_plot_refusals_never_import_sympy(args):
    code = (
        "import sys\n"
        "from symconv.cli.plot import plot\n"
        "try:\n"
        f"    plot.main({args!r})\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 2, exit.code\n"
        "assert 'sympy' not in sys.modules, 'SymPy imported before the refusal'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
