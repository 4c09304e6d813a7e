"""Shared helpers for the tests: building layers and naming elements briefly."""

import pytest

from symconv.engine.derive import derive
from symconv.spec.conv import conv_spec
from symconv.symbolic.tensors import element


def layer(kind="conv2d", input=(1, 1, 4, 4), weight=(1, 1, 2, 2), **options):
    """A derivation of a small layer (the seeds' 4x4 with 2x2 by default)."""
    return derive(conv_spec(kind, input, weight, **options))


def one_based(name, *index):
    """``one_based('x', 1, 3)`` is the seeds' x_13 of a 1-channel image: x[0, 0, 0, 2]."""
    if name == "b":
        return element("b", (0,))
    return element(name, (0, 0) + tuple(i - 1 for i in index))


@pytest.fixture
def seed_4x4():
    return layer()


@pytest.fixture(autouse=True, scope="session")
def jupyter_displays():
    """Derivations and formulas show themselves in Jupyter once printing is installed, as ``import symconv`` does."""
    from symconv.printing.jupyter import install

    install()


def quick_first(values, name):
    """Parameters for a grid: the first case in the quick loop, the rest marked slow."""
    return [pytest.param(value, id=name(value), marks=() if position == 0 else pytest.mark.slow)
            for position, value in enumerate(values)]


#: Cases marked slow by their test ids (measured: each costs 0.4-5 s), so that
#: ``pytest -m "not slow"`` is the quick loop; every function keeps quick cases.
SLOW = (
    "test_notebooks.py::test_notebook_runs_top_to_bottom[walkthrough.ipynb]",
    "test_notebooks.py::test_notebook_runs_top_to_bottom[explain.ipynb]",
    "test_fast_paths.py::*[2d-big-indices*",
    "test_plot.py::test_every_text_lies_inside_the_picture[routing-dw]",
    "test_plot.py::test_every_text_lies_inside_the_picture[jacobian-full-names]",
    "test_plot.py::test_plot_routing_returns_what_it_highlights[stride2-5x5-dw]",
    "test_plot.py::test_plot_routing_returns_what_it_highlights[1d-seed-dx]",
    "test_plot.py::test_plot_routing_returns_what_it_highlights[dilation2-dw]",
    "test_plot.py::test_plot_pool_routing_draws_the_derived_receivers[dilation]",
    "test_plot.py::test_plot_pool_routing_draws_the_derived_receivers[padding-channels]",
    "test_plot.py::test_plot_pool_routing_draws_the_derived_receivers[1d-padding]",
    "test_plot.py::test_plot_pool_jacobian_is_dy_dx_at_the_values[dilation]",
    "test_formats.py::test_cli_json_of_every_layer_kind_round_trips_structurally[stack-conv-relu-maxpool-conv]",
    "test_formats.py::test_cli_json_of_every_layer_kind_round_trips_structurally[maxpool2d-big-indices-mean]",
    "test_formats.py::test_cli_json_of_every_layer_kind_round_trips_structurally[maxpool2d-k3s2p1]",
    "test_pooling.py::test_max_pool_json_is_exactly_pytorchs_gradient[3x3-s1-overlapping-random]",
    "test_pooling.py::test_max_pool_json_is_exactly_pytorchs_gradient[3x3-s2-p1-random]",
    "test_cli_layers.py::*[max-N2-mean]",
    "test_cli_layers.py::*[max-dilation-2]",
    "test_formula.py::test_formulas_with_channels_equal_the_derivation[conv2d-shape1-weight1-options1]",
    "test_formula.py::test_grouped_formulas_equal_the_derivation[conv3d-*",
    "test_formula.py::test_formulas_counted_from_one_equal_the_derivation[conv3d*",
    "test_formula.py::test_json_is_zero_based_whatever_the_index_base[conv3d]",
)


def pytest_collection_modifyitems(config, items):
    import fnmatch

    for item in items:
        name = item.nodeid.split("/")[-1]
        if any(fnmatch.fnmatchcase(name, pattern.replace("[", "[[]")) for pattern in SLOW):
            item.add_marker(pytest.mark.slow)
