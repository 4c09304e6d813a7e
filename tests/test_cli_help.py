"""Each command's --help shows the options it accepts, and no option it would refuse."""

import re

from click.testing import CliRunner

from symconv.cli.app import cli
from symconv.cli.options import _LAYER_OPTIONS, _NAMES


def _options(command):
    text = CliRunner().invoke(cli, [command, "--help"]).output
    return set(re.findall(r"^\s+(--[a-z-]+)", text, flags=re.M))


def test_every_layer_option_has_its_name():
    assert len(_NAMES) == len(_LAYER_OPTIONS)
    for name, option in zip(_NAMES, _LAYER_OPTIONS):
        def probe():
            pass
        assert option(probe).__click_params__[0].name == name


def test_plot_lists_only_what_plot_takes():
    shown = _options("plot")
    assert {"--weight", "--kernel", "--dilation", "--ceil-mode", "--at", "--values", "--divisor-override",
            "--no-count-include-pad", "--output-size"} <= shown
    assert not {"--layers", "--negative-slope", "--eps"} & shown
    refused = CliRunner().invoke(cli, ["plot", "conv2d", "--input", "1,1,4,4", "--layers", "relu", "-o", "x.png"])
    assert refused.exit_code == 2


def test_derive_and_verify_list_every_layer_option():
    for command in ("derive", "verify"):
        assert {"--layers", "--negative-slope", "--divisor-override", "--no-count-include-pad"} <= _options(command)
