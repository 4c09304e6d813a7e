"""One rule for subscripts: a layer prints its x the same way alone and as a one-layer stack."""

import re

import pytest
from click.testing import CliRunner

from symconv.cli.app import cli

LAYERS = [
    ("conv2d", ["--weight", "1,1,2,2"], "conv2d(weight=1,1,2,2)"),
    ("conv2d", ["--weight", "2,1,2,2"], "conv2d(weight=2,1,2,2)"),
    ("maxpool2d", ["--kernel", "2"], "maxpool2d(kernel=2)"),
    ("avgpool2d", ["--kernel", "2"], "avgpool2d(kernel=2)"),
    ("relu", [], "relu"),
]


def _x_subscripts(text):
    return sorted(set(re.findall(r"x_\{[0-9,]+\}", text)))


@pytest.mark.parametrize("kind, options, layer", LAYERS, ids=[layer for _, _, layer in LAYERS])
@pytest.mark.parametrize("base", ["0", "1"])
def test_a_layer_and_its_one_layer_stack_write_x_alike(kind, options, layer, base):
    run = CliRunner().invoke
    alone = run(cli, ["derive", kind, "--input", "1,1,4,4", *options, "--index-base", base]).output
    stacked = run(cli, ["derive", "stack", "--input", "1,1,4,4", "--layers", layer, "--index-base", base]).output
    assert _x_subscripts(alone) and _x_subscripts(alone) == _x_subscripts(stacked)
