"""Tests for symconv.plot and the ``plot`` command: the pictures show the derived expressions.

The sparsity a Jacobian picture draws must be the dependency structure of the
derived forward (which elements each y contains), and a routing picture must
highlight exactly the atoms of the chosen gradient entry: both are checked
against the SymPy expressions themselves, on a table of small layers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import Indexed

pytest.importorskip("matplotlib", reason="pictures need matplotlib (the 'plot' or 'test' extra)")

from symconv.engine import derive  # noqa: E402
from symconv.errors import SymconvError  # noqa: E402
from symconv.plot import (  # noqa: E402
    gradient_routing,
    gradient_terms,
    jacobian_sparsity,
    plot_jacobian,
    plot_routing,
)
from symconv.plot_pool import maxpool_routing, plot_maxpool_routing  # noqa: E402
from symconv.spec import conv_spec  # noqa: E402

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
    from symconv.reference_pool import max_pool_backward

    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(7, 7)).astype(float)  # small integers: many ties
    dy = rng.standard_normal((3, 3))
    routing = maxpool_routing(x, 3, 2)
    dx = np.zeros_like(x)
    for (i, j), (r, c) in zip(np.ndindex(3, 3), routing.winners.reshape(-1, 2)):
        dx[r, c] += dy[i, j]
    np.testing.assert_array_equal(dx, max_pool_backward(dy[None, None], x[None, None], 3, stride=2)[0, 0])


@pytest.mark.parametrize("x, kernel, stride, message", [
    (np.ones((2, 2, 2)), 2, 2, "expected a 1-D or 2-D input"),
    (np.ones((3, 3)), 4, 1, "kernel: got (4, 4), expected at most"),
    (np.ones((3, 3)), 2, 0, "stride: got 0, expected a positive integer"),
])
def test_maxpool_routing_refuses_bad_input(x, kernel, stride, message):
    with pytest.raises(SymconvError, match=message.replace("(", r"\(").replace(")", r"\)")):
        maxpool_routing(x, kernel, stride)


# -- matplotlib stays optional and out of pyplot's global state ------------------


def test_symconv_imports_no_matplotlib_and_plots_without_pyplot(tmp_path):
    code = (
        "import sys\n"
        "import symconv, symconv.plot, symconv.cli_extra, symconv.display, symconv.pdf\n"
        "assert 'matplotlib' not in sys.modules, 'imported at symconv import time'\n"
        "from symconv.spec import conv_spec\n"
        "from symconv.engine import derive\n"
        f"symconv.plot.plot_jacobian(derive(conv_spec('conv1d', (1, 1, 4), (1, 1, 2))), r'{tmp_path / 'j.png'}')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot state touched'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # matplotlib's own default
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# -- the plot command -----------------------------------------------------------


def run_plot(args):
    from symconv.cli_extra import plot

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
    from symconv.cli import SymconvGroup
    from symconv.cli_extra import plot

    group = SymconvGroup(commands={"plot": plot})
    result = CliRunner().invoke(group, ["plot"] + SEED + ["--kind", "routing", "--at", "9,9", "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: Invalid value for '--at'")
