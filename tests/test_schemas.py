"""The shipped JSON Schemas: valid draft 2020-12, met by real outputs of every kind, and able to fail.

Each output is produced the way a user gets it (the CLI through click's
runner, or the public Python API for the check reports a file target cannot
easily reach: a function that raises, one that returns the wrong shape) and
validated against ``symconv.schemas.schema(name)``, the bundled schema that
``symconv schema NAME`` prints. The element-wise derive outputs are also
held complete: every entry of every tensor, no more.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import re
import shlex
import subprocess
import sys
from importlib.resources import files

import pytest
from click.testing import CliRunner

from symconv.cli.app import cli
from symconv.names import FORMULA_LAYERS
from symconv.schemas import LAYER, SCHEMAS, raw_schema, schema

jsonschema = pytest.importorskip("jsonschema")


@functools.cache
def _validator(name):
    return jsonschema.Draft202012Validator(schema(name))


def _errors(name, data):
    return [f"{list(e.absolute_path)}: {e.message[:300]}" for e in _validator(name).iter_errors(data)]


@functools.cache
def _cli_json(args: tuple, expected_exit: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == expected_exit, (args, result.output)
    return result.stdout


def _output(command: str, expected_exit: int = 0) -> dict:
    """The parsed JSON of one command line (a fresh copy: tests mutate it)."""
    return json.loads(_cli_json(tuple(shlex.split(command)), expected_exit))


# -- the schemas themselves ---------------------------------------------------

@pytest.mark.parametrize("name", SCHEMAS + (LAYER,))
def test_each_schema_is_a_valid_draft_2020_12_schema_with_id_title_and_description(name):
    for document in (raw_schema(name), schema(name)):
        jsonschema.Draft202012Validator.check_schema(document)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["$id"] == f"https://symconv.invalid/schemas/{name}.json"
        assert document["title"] and document["description"]


def test_the_package_ships_exactly_the_schemas_it_names():
    shipped = sorted(p.name for p in files("symconv.schemas").iterdir() if p.name.endswith(".json"))
    assert shipped == sorted(f"{name}.json" for name in SCHEMAS + (LAYER,))


@pytest.mark.parametrize("name", SCHEMAS)
def test_symconv_schema_prints_the_bundled_schema(name):
    assert json.loads(_cli_json(("schema", name))) == schema(name)
    assert schema(name)["$defs"]["layer.json"] == raw_schema(LAYER)  # self-contained: layer.json embedded


def test_symconv_schema_refuses_an_unknown_name_in_one_line():
    result = CliRunner().invoke(cli, ["schema", "plot"], standalone_mode=True)
    assert result.exit_code == 2
    code = ("import sys\nfrom symconv.cli.app import cli\nsys.argv = ['symconv', 'schema', 'plot']\n"
            "try:\n    cli()\nexcept SystemExit as e:\n    print(e.code, 'sympy' in sys.modules, file=sys.stderr)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    first, status = run.stderr.strip().splitlines()
    assert first.startswith("Error: Invalid value for 'COMMAND': 'plot' is not one of 'check', 'derive'")
    assert status == "2 False"  # one line, exit 2, and SymPy never loaded


# -- derive ------------------------------------------------------------------

ELEMENT = [
    "derive conv1d --input 1,1,5 --weight 1,1,2 --stride 2 --padding 1",
    "derive conv1d --input 2,2,6 --weight 2,1,3 --groups 2 --dilation 2 --padding same",
    "derive conv2d --input 1,2,3,3 --weight 2,1,2,2 --groups 2 --no-bias",
    "derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --padding same",
    "derive conv2d --input 2,1,3,3 --weight 1,1,2,2 --reduction mean",
    "derive maxpool1d --input 1,1,7 --kernel 2 --stride 2 --dilation 2 --ceil-mode",
    "derive maxpool2d --input 1,1,4,4 --kernel 3 --stride 2 --padding 1",
    "derive avgpool1d --input 1,1,6 --kernel 3 --divisor-override 2",
    "derive avgpool2d --input 1,1,4,4 --kernel 2 --padding 1 --no-count-include-pad",
    "derive relu --input 1,1,2,2",
    "derive leaky_relu --input 1,1,3 --negative-slope 1/10",
    "derive stack --input 1,1,4,4 --layers 'conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2)"
    " | conv2d(weight=1,2,1,1, bias=false)'",
    "derive stack --input 2,1,6 --layers 'avgpool1d(kernel=2) | leaky_relu(negative_slope=0.2) | conv1d(weight=1,1,2)'"
    " --reduction mean",
    "derive conv3d --input 1,2,2,3,3 --weight 2,1,2,2,1 --groups 2 --dilation 1,2,1 --padding same",
    "derive conv2d --input 1,1,3,3 --weight 1,1,2,2 --padding 1 --padding-mode reflect",
    "derive stack --input 1,1,2,3,3 --layers 'conv3d(weight=1,1,2,2,2, padding=1, padding_mode=circular) | relu'",
    "derive linear --input 2,3 --weight 2,3",
    "derive linear --input 1,2 --weight 3,2 --no-bias",
    "derive flatten --input 2,2,2,1",
    "derive sigmoid --input 2,3",
    "derive tanh --input 1,2,2",
    "derive batchnorm1d --input 3,2",
    "derive batchnorm1d --input 2,2,2 --eps 1e-3",
    "derive batchnorm2d --input 2,2,2,2 --reduction mean",
    "derive stack --input 2,1,3,3 --layers 'conv2d(weight=2,1,2,2) | batchnorm2d | tanh | flatten | linear(weight=2,8)"
    " | sigmoid'",
    "derive relu --input 2,3,1 --loss mse",
    "derive stack --input 2,1,4,4 --layers 'conv2d(weight=2,1,2,2) | relu | maxpool2d(kernel=2)' --loss mse"
    " --reduction sum",
    "derive linear --input 2,3 --weight 4,3 --loss cross_entropy",
]
#: The 3-D and adaptive pools, alone and in a stack.
NEW_POOLS = [
    "derive maxpool3d --input 1,1,3,4,4 --kernel 2 --stride 1,2,2 --padding 1 --ceil-mode",
    "derive avgpool3d --input 1,2,3,3,3 --kernel 2 --divisor-override 3",
    "derive adaptive_avgpool1d --input 1,1,5 --output-size 3",
    "derive adaptive_avgpool2d --input 1,1,4,5 --output-size 2,3",
    "derive adaptive_avgpool3d --input 1,1,3,3,2 --output-size 2",
    "derive adaptive_maxpool1d --input 2,1,7 --output-size 3",
    "derive adaptive_maxpool2d --input 1,1,5,5 --output-size 1",
    "derive stack --input 1,1,5,5 --layers 'conv2d(weight=2,1,3,3, padding=1) | relu | adaptive_maxpool2d(output_size=2)"
    " | adaptive_avgpool2d(output_size=1)'",
]
#: The derived losses' outputs in ELEMENT (mse of a layer and of a stack, cross-entropy of a linear layer).
LOSS_ELEMENT = ELEMENT[-3:]
OPERATOR = [
    "derive conv1d --input 1,1,5 --weight 1,1,2 --form operator",
    "derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --stride 2 --padding 1 --no-bias --form operator",
    "derive conv3d --input 1,1,3,2,3 --weight 1,1,2,1,2 --stride 2,1,1 --form operator",
]
MATRIX = [
    "derive conv1d --input 1,1,5 --weight 1,1,2 --dilation 2 --form matrix",
    "derive conv2d --input 2,1,3,3 --weight 1,1,2,2 --form matrix --index-base 1",
]

_KEY = re.compile(r"^([a-z]+[0-9]*)\[([0-9, ]+)\]$")


def _indices(table):
    """``{name: {index tuple, ...}}`` of a table's keys."""
    found = {}
    for key in table:
        name, index = _KEY.match(key).groups()
        found.setdefault(name, set()).add(tuple(int(i) for i in index.split(", ")))
    return found


def _every_index(shape):
    return set(itertools.product(*(range(n) for n in shape)))


def _assert_complete(data):
    """Every entry of every tensor of an element-wise derive output, and nothing else."""
    shapes = data["shapes"]
    forward = _indices(data["forward"])
    computed = {n for n in shapes if n == "y" or re.match(r"(h|mu|var|xhat)[0-9]*$", n)}
    assert set(forward) == computed
    for name, indices in forward.items():
        assert indices == _every_index(shapes[name]), name
    derived_loss = "loss" in data["layer"]
    assert set(data["gradients"]) == ({"d" + n for n, s in shapes.items() if n not in computed | {"t"} and s is not None}
                                      | {"d" + n for n in computed if n.startswith("h")}
                                      | ({"dy"} if derived_loss else set()))
    assert ("t" in shapes) == derived_loss
    for gradient, table in data["gradients"].items():
        assert _indices(table) == {gradient: _every_index(shapes[gradient[1:]])}, gradient


@pytest.mark.parametrize("command", ELEMENT + NEW_POOLS)
def test_every_element_wise_derive_output_meets_the_schema_and_holds_every_entry(command):
    data = _output(command + " --format json")
    assert _errors("derive", data) == []
    _assert_complete(data)


@pytest.mark.parametrize("command", OPERATOR + MATRIX)
def test_the_operator_and_matrix_forms_meet_the_schema(command):
    data = _output(command + " --format json")
    assert _errors("derive", data) == []
    if "gradients" in data:  # the operator form: the entries of dx, dw (and db) are all there
        layer = data["layer"]
        sizes = {"dx": layer["input"], "dw": layer["weight"], "db": layer["weight"][:1]}
        for name, table in data["gradients"].items():
            assert _indices(table) == {name: _every_index(sizes[name])}


# -- formula -------------------------------------------------------------------

@pytest.mark.parametrize("layer", FORMULA_LAYERS)
def test_every_formula_layer_meets_the_schema(layer):
    assert _errors("formula", _output(f"formula {layer} --format json")) == []


# -- check ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def mine(tmp_path_factory):
    path = tmp_path_factory.mktemp("check") / "mine.py"
    path.write_text("def right(dy, x):\n    return dy * (x > 0)\n\n"
                    "def wrong(dy, x):\n    return dy * (x >= 0)\n")
    return path


def test_single_checks_right_and_wrong_meet_the_schema(mine):
    right = _output(f"check {mine}:right relu --input 1,2,3 --format json")
    wrong = _output(f"check {mine}:wrong relu --input 1,2,3 --format json", 1)
    assert right["ok"] and not wrong["ok"] and wrong["diagnosis"][0]["class"] == "relu-at-zero"
    assert _errors("check", right) == [] and _errors("check", wrong) == []
    torch = _output("check torch.nn.functional:relu relu --convention torch --input 1,1,2,3 --format json")
    assert "forward" in torch and _errors("check", torch) == []


def test_check_reports_with_every_optional_key_meet_the_schema():
    from symconv.check import check_backward
    from symconv.reference.conv import conv_backward

    def db_doubled(dy, x, w, b, stride):
        dx, dw, db = conv_backward(dy, x, w, stride)
        return dx, dw, 2 * db

    def raises(dy, x):
        raise ValueError("no backward yet")

    reports = {
        "formulas": check_backward(db_doubled, "conv1d", input=(1, 1, 5), weight=(1, 1, 2), stride=2),
        "error": check_backward(raises, "relu", input=(1, 1, 3)),
        "problem": check_backward(lambda dy, x: (dy * (x > 0)).ravel(), "relu", input=(1, 2, 3)),
        "blind_spots": check_backward(lambda dy, x: dy, "maxpool2d", input=(1, 1, 2, 2), kernel=1),
    }
    for key, report in reports.items():
        data = json.loads(report.to_json())
        assert not data["ok"] or key == "blind_spots"
        assert _errors("check", data) == [], key
    assert reports["formulas"].to_dict()["gradients"]["db"]["formulas"]
    assert reports["error"].to_dict()["error"] and reports["problem"].to_dict()["gradients"]["dx"]["problem"]
    assert reports["blind_spots"].ok and reports["blind_spots"].to_dict()["blind_spots"]


def test_edge_suites_meet_the_schema(mine):
    torch = _output("check torch.nn.functional:relu relu --convention torch --suite edge --format json")
    wrong = _output(f"check {mine}:wrong relu --suite edge --format json", 1)
    assert torch["ok"] and not wrong["ok"]
    assert _errors("check", torch) == [] and _errors("check", wrong) == []


def test_an_adaptive_pools_edge_suite_meets_the_schema():
    data = _output("check torch.nn.functional:adaptive_max_pool2d adaptive_maxpool2d --convention torch --suite edge "
                   "--format json")
    assert data["ok"] and data["kind"] == "adaptive_maxpool2d" and _errors("check", data) == []
    data["configurations"][0]["layer"]["output_size"] = [1, 1, 1]
    assert _errors("check", data)


def test_a_suite_with_skipped_configurations_meets_the_schema():
    from symconv.check.suite import json_report, run_suite
    from symconv.reference.conv import conv_backward

    def backward(dout, cache):
        x, w, b, param = cache
        return conv_backward(dout, x, w, param["stride"], param["pad"])
    data = json.loads(json_report(run_suite(backward, "conv2d", "cs231n", target="conv_backward")))
    assert data["ok"] and any(c["ok"] is None for c in data["configurations"])
    assert _errors("check", data) == []


# -- verify: what symconv verify --format json prints --------------------------

def _verify_document(command_layer, seed=0):
    """What ``symconv verify --format json`` prints for one layer."""
    from click.testing import CliRunner

    from symconv.cli.app import cli

    kind, options = command_layer
    args = ["verify", kind, "--format", "json", "--seed", str(seed)]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", value]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


VERIFIED = [
    ("conv2d", dict(input="1,2,4,4", weight="2,2,2,2", stride="2", padding="1")),
    ("maxpool1d", dict(input="1,1,5", kernel="2")),
    ("adaptive_maxpool2d", dict(input="1,2,5,5", output_size="2,3")),
    ("avgpool3d", dict(input="1,1,3,4,4", kernel="2", stride="1", padding="1")),
    ("stack", dict(input="1,1,5,5", layers="conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2)")),
    ("batchnorm2d", dict(input="2,2,2,2")),
    ("stack", dict(input="2,1,3,3", layers="conv2d(weight=2,1,2,2) | batchnorm2d | sigmoid | flatten | linear(weight=2,8)")),
    ("relu", dict(input="2,3,1", loss="mse", target="1,2,3,4,5,1/3")),
    ("stack", dict(input="1,1,4,4", layers="conv2d(weight=2,1,3,3, padding=1) | relu", loss="mse")),
]


@pytest.fixture(scope="module")
def verified():
    return [_verify_document(layer) for layer in VERIFIED]


def test_the_verify_shape_meets_the_schema(verified):
    for data in verified:
        assert data["ok"] and _errors("verify", data) == []
    for data in verified[-2:]:  # a derived loss: named with its reduction, and its dy checked
        assert data["layer"]["loss"] == "mse" and data["layer"]["reduction"] == "mean"
        names = list(data["tensors"])
        assert names.index("dy") == names.index("y") + 1  # after the outputs, before the chain it starts
    failing = copy.deepcopy(verified[0])
    failing["ok"] = False
    failing["tensors"]["dw"].update(ok=False, exact={"ok": False, "first_difference": [0, 0, 0, 0]})
    failing["tensors"]["db"]["exact"]["ok"] = None  # not run
    assert _errors("verify", failing) == []


# -- and each schema can fail ------------------------------------------------

def _drop(path):
    def mutate(data):
        *parents, last = path
        for key in parents:
            data = data[key]
        del data[last]
    return mutate


def _set(path, value):
    def mutate(data):
        *parents, last = path
        for key in parents:
            data = data[key]
        data[last] = value
    return mutate


BROKEN = [
    ("derive", ELEMENT[0], _drop(["gradients"])),
    ("derive", ELEMENT[0], _drop(["gradients", "db"])),
    ("derive", ELEMENT[0], _drop(["layer", "reduction"])),
    ("derive", ELEMENT[0], _drop(["layer", "padding_mode"])),
    ("derive", ELEMENT[0], _set(["layer", "stride"], [2, 2])),  # two strides for one axis
    ("derive", ELEMENT[0], _set(["forward", "y[0, 0, 0]"], 0)),  # a number, not a string
    ("derive", ELEMENT[0], _set(["forward", "x[0, 0, 0]"], "0")),
    ("derive", ELEMENT[0], _set(["extra"], 1)),
    ("derive", ELEMENT[6], _drop(["layer", "dilation"])),
    ("derive", ELEMENT[10], _drop(["layer", "negative_slope"])),
    ("derive", ELEMENT[11], _drop(["layer", "layers", 1, "kind"])),
    ("derive", ELEMENT[11], _set(["gradients", "dq1"], {"dq1[0]": "0"})),
    ("derive", ELEMENT[11], _set(["layer", "layers", 0, "reduction"], "sum")),  # only the stack has one
    ("derive", ELEMENT[13], _set(["layer", "stride"], [1, 2])),  # two strides for three axes
    ("derive", ELEMENT[13], _set(["layer", "padding_mode"], "same")),  # the word the user gave is padding_string
    ("derive", ELEMENT[14], _drop(["layer", "padding_string"])),
    ("derive", ELEMENT[15], _set(["layer", "layers", 0, "padding_mode"], None)),
    ("derive", LOSS_ELEMENT[0], _drop(["gradients", "dy"])),
    ("derive", LOSS_ELEMENT[0], _drop(["shapes", "t"])),
    ("derive", LOSS_ELEMENT[0], _set(["layer", "loss"], "mae")),
    ("derive", LOSS_ELEMENT[1], _drop(["layer", "loss"])),  # a dy and a t, but no loss
    ("derive", ELEMENT[0], _set(["gradients", "dy"], {"dy[0, 0, 0]": "0"})),  # a dy with the sum loss
    ("derive", OPERATOR[0], _set(["layer", "reduction"], "sum")),
    ("derive", OPERATOR[0], _drop(["identities"])),
    ("derive", MATRIX[0], _drop(["pictures", 0, "factors"])),
    ("derive", NEW_POOLS[0], _set(["layer", "stride"], [1, 2])),  # two strides for a 3-D pool
    ("derive", NEW_POOLS[0], _set(["layer", "input"], [1, 1, 4, 4])),  # a 2-D input for a 3-D pool
    ("derive", NEW_POOLS[3], _drop(["layer", "output_size"])),
    ("derive", NEW_POOLS[3], _set(["layer", "output_size"], [2, 3, 1])),  # three sizes for a 2-D kind
    ("derive", NEW_POOLS[3], _set(["layer", "kernel"], [2, 2])),  # adaptive pools have no kernel
    ("derive", NEW_POOLS[7], _drop(["layer", "layers", 3, "output_size"])),
    ("formula", "formula conv1d", _drop(["dx", "rhs"])),
    ("formula", "formula conv2d", _drop(["db"])),
    ("check", "check {mine}:right relu --input 1,2,3", _drop(["probes"])),
    ("check", "check {mine}:wrong relu --input 1,2,3", _set(["ok"], True)),
    ("check", "check {mine}:wrong relu --suite edge", _drop(["summary"])),
    ("check", "check {mine}:wrong relu --suite edge", _drop(["configurations", 0, "layer", "kind"])),
]


@pytest.mark.parametrize("name, command, mutate", BROKEN, ids=lambda v: v if isinstance(v, str) else "")
def test_a_schema_rejects_a_broken_output(name, command, mutate, mine):
    command = command.format(mine=mine) + " --format json"
    data = _output(command, 1 if ":wrong" in command else 0)
    assert _errors(name, data) == []
    mutate(data)
    assert _errors(name, data), "the broken output passed"


@pytest.mark.parametrize("mutate", [_drop(["seed"]), _drop(["tensors", "dx", "reference", "tolerance"]),
                                    _drop(["tensors", "y", "exact"]), _set(["tensors", "dq"], {}),
                                    _set(["tensors", "dx", "ok"], False),  # ok overall, yet dx failed
                                    _set(["tensors", "dx", "reference", "ok"], False), _set(["title"], "")])
def test_the_verify_schema_rejects_a_broken_output(mutate, verified):
    data = copy.deepcopy(verified[0])
    mutate(data)
    assert _errors("verify", data)


@pytest.mark.parametrize("mutate", [_drop(["layer", "reduction"]), _set(["layer", "loss"], "sum"),
                                    _set(["tensors", "dt"], {})])
def test_the_verify_schema_rejects_a_broken_loss_output(mutate, verified):
    data = copy.deepcopy(verified[-2])
    assert _errors("verify", data) == []
    mutate(data)
    assert _errors("verify", data)
