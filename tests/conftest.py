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
