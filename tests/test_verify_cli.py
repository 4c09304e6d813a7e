"""``symconv verify --format text|json -o FILE``: the table unchanged, the JSON's shape, the exit codes."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from symconv.cli.app import cli
from symconv.spec.command import spec_from_options
from symconv.verify.checks import FD_TOLERANCE, REFERENCE_TOLERANCE, Check, Report
from symconv.verify.stack import StackReport

GOLDEN = Path(__file__).resolve().parent / "golden"
CONV = "verify conv2d --input 1,2,4,4 --weight 2,2,2,2 --stride 2 --padding 1"  # golden verify-conv2d
STACK = "verify stack --input 1,1,5,5 --layers 'conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2)'"
COMPARISONS = ("reference", "finite_differences", "exact")


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2+
        return CliRunner()


def invoke(command: str):
    return _runner().invoke(cli, shlex.split(command))


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity (not JSON)."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def assert_shape(data, names):
    """The agreed shape, key for key."""
    assert list(data) == ["ok", "layer", "seed", "tensors"]
    assert isinstance(data["ok"], bool) and isinstance(data["seed"], int)
    assert list(data["tensors"]) == names
    for name, tensor in data["tensors"].items():
        assert list(tensor) == ["ok", *COMPARISONS], name
        assert isinstance(tensor["ok"], bool)
        for key in ("reference", "finite_differences"):
            comparison = tensor[key]
            assert set(comparison) <= {"ok", "max_rel_error", "tolerance", "note"}, (name, key)
            assert list(comparison)[:3] == ["ok", "max_rel_error", "tolerance"], (name, key)
            assert comparison["ok"] in (True, False, None)
            assert comparison["max_rel_error"] is None or isinstance(comparison["max_rel_error"], float)
            assert isinstance(comparison["tolerance"], float)
            if comparison["ok"] is None:
                assert isinstance(comparison["note"], str) and comparison["note"], (name, key)
        assert set(tensor["exact"]) <= {"ok", "note"} and tensor["exact"]["ok"] in (True, False, None)
        if tensor["exact"]["ok"] is None:
            assert tensor["exact"]["note"]


# --------------------------------------------------------------------------
# text: today's table, byte for byte
# --------------------------------------------------------------------------


def test_default_and_text_are_the_golden_table(tmp_path):
    golden = (GOLDEN / "verify-conv2d.out").read_text(encoding="utf-8")
    default, text = invoke(CONV), invoke(CONV + " --format text")
    assert default.exit_code == text.exit_code == 0
    assert default.stdout == text.stdout == golden
    assert default.stderr == text.stderr == ""
    written = invoke(f"{CONV} -o {tmp_path / 'table.txt'}")
    assert written.exit_code == 0 and written.stdout == "" and written.stderr == ""
    assert (tmp_path / "table.txt").read_text(encoding="utf-8") == golden


# --------------------------------------------------------------------------
# json
# --------------------------------------------------------------------------


def test_json_shape_and_values_of_a_convolution():
    result = invoke(CONV + " --format json")
    assert result.exit_code == 0 and result.stderr == ""
    data = strict_json(result.stdout)
    assert_shape(data, ["y", "dx", "dw", "db"])
    spec = spec_from_options("conv2d", input="1,2,4,4", weight="2,2,2,2", stride="2", padding="1")
    assert data["ok"] is True and data["seed"] == 0 and data["layer"] == {**spec.to_dict(), "reduction": "sum"}
    derived = strict_json(invoke(CONV.replace("verify", "derive", 1) + " --format json").stdout)
    assert data["layer"] == derived["layer"]  # one layer object for both commands
    assert strict_json(invoke(CONV + " --format json --reduction mean").stdout)["layer"]["reduction"] == "mean"
    y = data["tensors"]["y"]
    assert y["finite_differences"]["ok"] is None and y["finite_differences"]["max_rel_error"] is None
    assert "not run" in y["finite_differences"]["note"]
    for name, tensor in data["tensors"].items():
        assert tensor["ok"] is True and tensor["exact"] == {"ok": True}
        assert tensor["reference"]["tolerance"] == REFERENCE_TOLERANCE
        assert tensor["finite_differences"]["tolerance"] == FD_TOLERANCE
        assert tensor["reference"]["ok"] is True and "note" not in tensor["reference"]
        if name != "y":
            assert tensor["finite_differences"]["ok"] is True and "note" not in tensor["finite_differences"]
    # the same numbers as the table, which rounds them to two digits
    rows = {line.split()[0]: line.split() for line in invoke(CONV).stdout.splitlines()[3:7]}
    for name, tensor in data["tensors"].items():
        assert f"{tensor['reference']['max_rel_error']:.1e}" == rows[name][1]
        if name != "y":
            assert f"{tensor['finite_differences']['max_rel_error']:.1e}" == rows[name][2]


def test_json_seed_and_no_bias():
    data = strict_json(invoke("verify conv1d --input 1,1,5 --weight 1,1,2 --no-bias --seed 7 --format json").stdout)
    assert_shape(data, ["y", "dx", "dw"])
    assert data["seed"] == 7 and data["layer"]["bias"] is False


def test_json_of_a_pool_and_an_activation():
    for command, kind in (("maxpool2d --input 1,1,5,5 --kernel 3 --stride 2 --padding 1", "maxpool2d"),
                          ("relu --input 1,2,3,3", "relu")):
        data = strict_json(invoke(f"verify {command} --format json").stdout)
        assert_shape(data, ["y", "dx"])
        assert data["ok"] is True and data["layer"]["kind"] == kind


def test_json_of_a_stack_names_every_tensor():
    result = invoke(STACK + " --format json")
    assert result.exit_code == 0
    data = strict_json(result.stdout)
    assert_shape(data, ["h1", "h2", "y", "dh2", "dh1", "dx", "dw1", "db1"])
    assert data["layer"]["kind"] == "stack" and [l["kind"] for l in data["layer"]["layers"]] == [
        "conv2d", "relu", "maxpool2d"]
    for name in ("dh2", "dh1"):  # intermediate gradients: finite differences end to end only
        fd = data["tensors"][name]["finite_differences"]
        assert fd["ok"] is None and "end to end" in fd["note"]
    for name in ("dx", "dw1", "db1"):
        assert data["tensors"][name]["finite_differences"]["ok"] is True


def test_json_to_a_file_is_what_stdout_would_be(tmp_path):
    out = tmp_path / "report.json"
    written = invoke(f"{CONV} --format json -o {out}")
    assert written.exit_code == 0 and written.stdout == "" and written.stderr == ""
    assert out.read_text(encoding="utf-8") == invoke(CONV + " --format json").stdout


def _break_dx(monkeypatch):
    import symconv.engine.derive

    real_derive = symconv.engine.derive.derive

    def wrong_derive(spec, **kwargs):
        derivation = real_derive(spec, **kwargs)
        dx = dict(derivation.gradients["dx"].items())  # tables are read-only
        first = next(iter(dx))
        dx[first] = 2 * dx[first] + 1
        derivation.gradients["dx"] = dx
        return derivation

    monkeypatch.setattr(symconv.engine.derive, "derive", wrong_derive)


def test_json_mismatch_exits_1_names_the_entry_and_still_writes(monkeypatch, tmp_path):
    _break_dx(monkeypatch)
    out = tmp_path / "report.json"
    result = invoke(f"verify conv2d --input 1,1,4,4 --weight 1,1,2,2 --format json -o {out}")
    assert result.exit_code == 1 and result.stdout == ""
    data = strict_json(out.read_text(encoding="utf-8"))
    assert_shape(data, ["y", "dx", "dw", "db"])
    assert data["ok"] is False
    dx = data["tensors"]["dx"]
    assert dx["ok"] is False and dx["reference"]["ok"] is False and dx["exact"]["ok"] is False
    assert dx["reference"]["note"].startswith("dx[0, 0, 0, 0]: derived")
    assert [name for name, t in data["tensors"].items() if not t["ok"]] == ["dx"]
    assert invoke("verify conv2d --input 1,1,4,4 --weight 1,1,2,2").exit_code == 1  # text too


@pytest.mark.parametrize("args, word, value", [
    ("--format yaml", "format", "yaml"),
    ("--format json -o /no/such/directory/report.json", "output", "/no/such/directory/report.json"),
])
def test_bad_format_or_output_is_one_line_and_exit_2(args, word, value):
    result = invoke(f"verify conv2d --input 1,1,4,4 --weight 1,1,2,2 {args}")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and word in lines[0] and value in lines[0]


def test_help_lists_format_and_output():
    out = invoke("verify --help").stdout
    assert "--format [text|json]" in out and "--output" in out and "in parentheses" in out


# --------------------------------------------------------------------------
# the report's dictionaries, for what the command line rarely reaches
# --------------------------------------------------------------------------


def _check(name, **changes):
    fields = dict(name=name, vs_reference=1e-16, vs_finite_differences=1e-12, fd_entries=4, exact=True)
    fields.update(changes)
    return Check(**fields)


def test_exact_not_run_is_ok_null_with_a_note():
    report = Report("t", 0, (_check("y", vs_finite_differences=None, exact=None), _check("dx", exact=None)))
    data = report.to_dict()
    assert list(data) == ["ok", "seed", "tensors"]  # no layer given, none written
    assert data["ok"] is True
    for tensor in data["tensors"].values():
        assert tensor["exact"]["ok"] is None and "not run" in tensor["exact"]["note"]


def test_a_stack_away_from_no_kink_voids_its_finite_differences():
    checks = (_check("y", vs_finite_differences=None), _check("dx"))
    report = StackReport("stack", 0, checks, kink_distance=1e-9, nearest="relu h1[0, 0, 0, 0]", draws=20)
    assert not report.passed
    data = report.to_dict({"kind": "stack"})
    assert data["ok"] is False and data["layer"] == {"kind": "stack"}
    dx = data["tensors"]["dx"]
    assert dx["ok"] is False and dx["reference"]["ok"] is True and dx["exact"]["ok"] is True
    assert dx["finite_differences"]["ok"] is None and dx["finite_differences"]["max_rel_error"] == 1e-12
    assert "prove nothing" in dx["finite_differences"]["note"] and "relu h1" in dx["finite_differences"]["note"]
    assert data["tensors"]["y"]["ok"] is True  # an output: no finite differences to void


def test_a_failing_check_notes_the_comparison_that_failed():
    where = "dx[0, 1]: derived 1, finite differences 2"
    data = Report("t", 0, (_check("dx", vs_finite_differences=0.5, where=where),)).to_dict()
    dx = data["tensors"]["dx"]
    assert data["ok"] is False and dx["ok"] is False
    assert dx["finite_differences"] == {"ok": False, "max_rel_error": 0.5, "tolerance": FD_TOLERANCE, "note": where}
    assert "note" not in dx["reference"] and dx["exact"] == {"ok": True}


def test_a_non_finite_error_is_null_and_fails():
    data = Report("t", 0, (_check("dx", vs_reference=math.nan),)).to_dict()
    reference = data["tensors"]["dx"]["reference"]
    assert reference["ok"] is False and reference["max_rel_error"] is None and "nan" in reference["note"]
    assert data["ok"] is False
    from symconv.printing.formats import json_text

    strict_json(json_text(data))
