"""Collection rules for the whole checkout: the doctests in symconv/ run with the tests."""

import importlib.util

import pytest


def _draws(item) -> bool:
    """A doctest of symconv.plot that draws a picture (calls one of the plot_ functions)."""
    if "symconv/plot/" not in str(item.path).replace("\\", "/"):
        return False
    return any("plot_" in example.source for example in item.dtest.examples)


def pytest_collection_modifyitems(config, items):
    """Skip, with the reason, the doctests that draw when matplotlib is not installed."""
    if importlib.util.find_spec("matplotlib") is not None:
        return
    reason = pytest.mark.skip(reason='draws a picture: needs matplotlib (pip install "symconv[plot]")')
    for item in items:
        if isinstance(item, pytest.DoctestItem) and _draws(item):
            item.add_marker(reason)
