"""symconv check: right functions pass, wrong ones are named, blind spots are found, bad input is refused.

The right functions here are PyTorch's autograd, written in the plain
convention, so the check's verdicts are tested against an implementation that
shares nothing with symconv's reference kernels.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symconv
from symconv.check import check_backward, layer_spec
from symconv.check.mistakes import mistakes_of
from symconv.check.probes import draw, shapes
from symconv.check.run import run_check
from symconv.check.suite import edge_specs, run_suite
from symconv.errors import SymconvError
from symconv.layers import RULES, rule_for
from symconv.names import CHECK_KINDS

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _pad_pairs(x, padding):
    """Asymmetric conv padding as PyTorch's F.pad (last axis first)."""
    pairs = [p if isinstance(p, tuple) else (p, p) for p in padding]
    flat = [v for lo_hi in reversed(pairs) for v in lo_hi]
    return F.pad(x, flat)


def torch_conv(dy, x, w, b, stride, padding, dilation, groups):
    xt, wt, bt = _t(x), _t(w), _t(b)
    conv = F.conv1d if x.ndim == 3 else F.conv2d
    y = conv(_pad_pairs(xt, padding), wt, bt, stride=stride, dilation=dilation, groups=groups)
    y.backward(torch.tensor(dy))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def torch_conv_no_bias(dy, x, w, stride, padding, dilation, groups):
    xt, wt = _t(x), _t(w)
    conv = F.conv1d if x.ndim == 3 else F.conv2d
    conv(_pad_pairs(xt, padding), wt, None, stride=stride, dilation=dilation, groups=groups).backward(torch.tensor(dy))
    return xt.grad.numpy(), wt.grad.numpy()


def torch_maxpool(dy, x, kernel_size, stride, padding, dilation, ceil_mode):
    xt = _t(x)
    pool = F.max_pool1d if x.ndim == 3 else F.max_pool2d
    pool(xt, kernel_size, stride, padding, dilation, ceil_mode).backward(torch.tensor(dy))
    return xt.grad.numpy()


def torch_avgpool(dy, x, kernel_size, stride, padding, ceil_mode, count_include_pad, **more):
    xt = _t(x)
    if x.ndim == 3:
        F.avg_pool1d(xt, kernel_size, stride, padding, ceil_mode, count_include_pad).backward(torch.tensor(dy))
    else:
        F.avg_pool2d(xt, kernel_size, stride, padding, ceil_mode, count_include_pad, **more).backward(torch.tensor(dy))
    return xt.grad.numpy()


def torch_relu(dy, x):
    xt = _t(x)
    F.relu(xt).backward(torch.tensor(dy))
    return xt.grad.numpy()


def torch_leaky(dy, x, negative_slope):
    xt = _t(x)
    F.leaky_relu(xt, negative_slope).backward(torch.tensor(dy))
    return xt.grad.numpy()


def right_function(spec):
    name = spec.kind.rstrip("12d")
    if name == "conv":
        return torch_conv if spec.bias else torch_conv_no_bias
    return {"maxpool": torch_maxpool, "avgpool": torch_avgpool, "relu": torch_relu,
            "leaky_relu": torch_leaky}[name.rstrip("_")]


CONFIGS = [
    ("conv2d", dict(input=(2, 3, 7, 7), weight=(4, 3, 3, 3), stride=2, padding=1)),
    ("conv2d", dict(input=(2, 4, 6, 6), weight=(4, 2, 2, 3), padding="same", groups=2)),
    ("conv2d", dict(input=(1, 2, 7, 7), weight=(2, 2, 3, 3), dilation=2, padding=2, bias=False)),
    ("conv1d", dict(input=(3, 2, 9), weight=(2, 1, 3), stride=2, padding=1, dilation=2, groups=2)),
    ("maxpool2d", dict(input=(2, 2, 7, 7), kernel=3, stride=2, padding=1)),
    ("maxpool2d", dict(input=(1, 1, 5, 6), kernel=(2, 3), stride=1, dilation=(2, 1), ceil_mode=True)),
    ("maxpool1d", dict(input=(2, 1, 8), kernel=3, stride=2, padding=1, ceil_mode=True)),
    ("avgpool2d", dict(input=(2, 2, 5, 5), kernel=3, stride=2, padding=1, count_include_pad=False)),
    ("avgpool2d", dict(input=(1, 1, 5, 5), kernel=2, ceil_mode=True, padding=1)),
    ("avgpool1d", dict(input=(2, 2, 7), kernel=3, stride=2, padding=1)),
    ("relu", dict(input=(2, 3, 4, 4))),
    ("leaky_relu", dict(input=(2, 3, 5), negative_slope="1/10")),
]


@pytest.mark.parametrize("kind, options", CONFIGS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CONFIGS)])
def test_a_right_backward_passes_and_nothing_is_named(kind, options):
    spec = layer_spec(kind, **options)
    report = check_backward(right_function(spec), kind, **options)
    assert report.ok, report.text()
    assert report.diagnosis == () and report.error == ""
    assert all(g.ok and not g.wrong for g in report.gradients.values())
    assert report.text().splitlines()[4].startswith("OK")


def _mistaken(spec, mistake, variant):
    """A user backward that makes ``mistake`` (its ``variant``) and is right elsewhere."""
    right = right_function(spec)

    def fn(dy, x, *params, **opts):
        grads = right(dy, x, *params, **opts)
        grads = grads if isinstance(grads, tuple) else (grads,)
        names = ["dx"] + ["d" + p for p in ("w", "b")][:len(params)]
        values = {"x": x, "dy": dy, **dict(zip(("w", "b"), params))}
        wrong = mistake.variants[variant](values)
        out = tuple(wrong.get(name, g) for name, g in zip(names, grads))
        return out if len(out) > 1 else out[0]
    fn.__signature__ = __import__("inspect").signature(right)
    return fn


@pytest.mark.parametrize("kind, options", CONFIGS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CONFIGS)])
def test_every_mistake_that_shows_is_named_as_itself(kind, options):
    spec = layer_spec(kind, **options)
    rule = rule_for(spec)
    probes = draw(spec, rule)
    for mistake in mistakes_of(spec, rule, shapes(spec, rule)):
        for variant in range(len(mistake.variants)):
            report = run_check(spec, _mistaken(spec, mistake, variant), explain=False)
            if report.ok:  # this way of making it is invisible here: the blind-spot tests cover that
                continue
            assert mistake.name in [f.name for f in report.diagnosis], (mistake.name, variant, report.text())
    assert probes  # the probes exist at every size


def test_a_scaled_gradient_says_its_factor():
    def half_dw(dy, x, w, b, stride, padding, dilation, groups):
        dx, dw, db = torch_conv(dy, x, w, b, stride, padding, dilation, groups)
        return dx, dw / 2, -db
    report = check_backward(half_dw, "conv2d", input=(2, 1, 4, 4), weight=(2, 1, 2, 2))
    assert not report.ok
    messages = {f.message for f in report.diagnosis if f.name == "scaled"}
    assert messages == {"dw is 1/2 times the right gradient", "db is -1 times the right gradient"}
    assert not report.gradients["dx"].wrong


def test_the_seeds_dx22_is_rebuilt_beside_the_users():
    """The seeds' 3x3 input and 2x2 kernel: dx_{11} (0-based) = dy00 w11 + dy01 w10 + dy10 w01 + dy11 w00."""
    def no_flip(dy, x, w, b):
        dx, dw, db = torch_conv(dy, x, np.flip(w, (2, 3)).copy(), b, (1, 1), (0, 0), (1, 1), 1)
        return dx, torch_conv(dy, x, w, b, (1, 1), (0, 0), (1, 1), 1)[1], db
    report = check_backward(no_flip, "conv2d", input=(1, 1, 3, 3), weight=(1, 1, 2, 2))
    assert [f.name for f in report.diagnosis] == ["kernel-not-flipped"]
    rebuilt = {entry: (yours, right) for entry, yours, right in report.gradients["dx"].formulas}
    from symconv.check.writers import formula_text

    yours, right = rebuilt[(0, 0, 1, 1)] if (0, 0, 1, 1) in rebuilt else next(iter(rebuilt.values()))
    if (0, 0, 1, 1) in rebuilt:
        assert formula_text(right) == ("dy[0, 0, 0, 0]*w[0, 0, 1, 1] + dy[0, 0, 0, 1]*w[0, 0, 1, 0] + "
                                       "dy[0, 0, 1, 0]*w[0, 0, 0, 1] + dy[0, 0, 1, 1]*w[0, 0, 0, 0]")
        assert formula_text(yours) == ("dy[0, 0, 0, 0]*w[0, 0, 0, 0] + dy[0, 0, 0, 1]*w[0, 0, 0, 1] + "
                                       "dy[0, 0, 1, 0]*w[0, 0, 1, 0] + dy[0, 0, 1, 1]*w[0, 0, 1, 1]")
    assert formula_text(right) != formula_text(yours)


def test_blind_spots_name_what_the_configuration_hides_and_the_change_that_shows_it():
    report = check_backward(torch_conv, "conv2d", input=(1, 1, 4, 4), weight=(1, 1, 2, 2))
    spots = {b.name: b for b in report.blind_spots}
    assert report.ok
    assert spots["stride-ignored"].suggest == "try --stride 2"
    assert spots["batch-not-summed"].suggest == "try --input 2,1,4,4"
    assert spots["padding-offset"].suggest == "try --padding 1"
    assert spots["groups-ignored"].suggest.startswith("try ") and "--groups 2" in spots["groups-ignored"].suggest
    assert "kernel-not-flipped" not in spots  # a 2x2 kernel shows it
    # each suggestion does reveal the mistake it names
    shown = check_backward(torch_conv, "conv2d", input=(1, 1, 4, 4), weight=(1, 1, 2, 2), stride=2)
    assert "stride-ignored" not in {b.name for b in shown.blind_spots}


def test_max_pool_ties_are_blind_with_a_1x1_window_and_shown_otherwise():
    one = check_backward(torch_maxpool, "maxpool2d", input=(1, 1, 3, 3), kernel=1)
    assert {"max-ties-all", "max-ties-split", "max-ties-last"} <= {b.name for b in one.blind_spots}
    two = check_backward(torch_maxpool, "maxpool2d", input=(1, 1, 4, 4), kernel=2)
    assert not {"max-ties-all", "max-ties-split", "max-ties-last"} & {b.name for b in two.blind_spots}


def test_a_function_that_raises_or_returns_the_wrong_shape_is_wrong_and_says_so():
    def raises(dy, x):
        raise ValueError("no backward yet")
    report = check_backward(raises, "relu", input=(1, 1, 3))
    assert not report.ok and "raises() raised ValueError: no backward yet" in report.error
    assert "test_check.py" in report.error  # where in the user's code

    def flat(dy, x):
        return (dy * (x > 0)).ravel()
    report = check_backward(flat, "relu", input=(1, 2, 3))
    assert report.gradients["dx"].problem == "returned shape [6], expected [1, 2, 3]"

    def two(dy, x, w, b):
        return dy, dy
    report = check_backward(two, "conv1d", input=(1, 1, 3), weight=(1, 1, 2))
    assert "returned 2 values, expected 3: (dx, dw, db)" in report.error

    def exits(dy, x):
        raise SystemExit(3)  # sys.exit(3) in the user's code: a failure of theirs, not symconv's exit status
    report = check_backward(exits, "relu", input=(1, 1, 3))
    assert not report.ok and "exits() raised SystemExit: 3" in report.error


def test_a_layer_too_large_to_check_is_refused_before_anything_is_allocated():
    called = []
    with pytest.raises(SymconvError, match=r"^input: got a layer of 4,294,967,296 elements .*expected at most "):
        check_backward(lambda dy, x, w, b: called.append(1), "conv1d", input=(1, 1, 2**31 - 1), weight=(1, 1, 2))
    assert called == []


def test_plain_passes_only_the_options_the_signature_names():
    seen = {}

    def pool(dy, x, kernel_size, stride):
        seen.update(kernel_size=kernel_size, stride=stride)
        return torch_maxpool(dy, x, kernel_size, stride, 0, 1, False)
    assert check_backward(pool, "maxpool2d", input=(1, 1, 4, 4), kernel=2, stride=(2, 1)).ok
    assert seen == {"kernel_size": (2, 2), "stride": (2, 1)}


def test_the_torch_convention_runs_autograd_and_checks_the_forward_too():
    report = check_backward(F.conv2d, "conv2d", input=(2, 2, 5, 5), weight=(3, 2, 2, 2), padding="same",
                            convention="torch")
    assert report.ok and report.forward is not None and report.forward.ok

    class Doubled(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, dy):
            (x,) = ctx.saved_tensors
            return 2 * dy * (x > 0)
    report = check_backward(Doubled.apply, "relu", input=(1, 2, 3), convention="torch")
    assert [f.message for f in report.diagnosis] == ["dx is 2 times the right gradient"]


def test_cs231n_builds_the_cache_or_takes_the_users_forward():
    def forward(x, w, b, conv_param):
        out = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=conv_param["stride"],
                       padding=conv_param["pad"]).numpy()
        return out, (x, w, b, conv_param)

    def backward(dout, cache):
        x, w, b, param = cache
        return torch_conv(dout, x, w, b, (param["stride"],) * 2, (param["pad"],) * 2, (1, 1), 1)
    options = dict(input=(2, 3, 5, 5), weight=(2, 3, 3, 3), stride=2, padding=1)
    assert check_backward(backward, "conv2d", convention="cs231n", **options).ok
    report = check_backward(backward, "conv2d", convention="cs231n", forward=forward, **options)
    assert report.ok and report.forward.ok
    with pytest.raises(SymconvError, match="convention: got 'cs231n' for this layer, expected .*no dilation"):
        check_backward(backward, "conv2d", convention="cs231n", dilation=2, **options)


def test_torch_refuses_a_padding_pytorch_cannot_take():
    with pytest.raises(SymconvError, match=r"padding: got \[\[0, 1\], \[1, 0\]\] with --convention torch"):
        check_backward(F.conv2d, "conv2d", input=(1, 1, 4, 4), weight=(1, 1, 2, 2), padding=((0, 1), (1, 0)),
                       convention="torch")


def test_the_json_report_has_the_promised_keys():
    report = check_backward(torch_relu, "relu", input=(1, 1, 3))
    data = json.loads(report.to_json())
    assert set(data) >= {"ok", "convention", "layer", "gradients", "diagnosis", "blind_spots"}
    assert set(data["gradients"]["dx"]) >= {"ok", "shape", "expected_shape", "wrong", "max_abs_error"}
    assert data["layer"] == layer_spec("relu", input=(1, 1, 3)).to_dict()


def test_assert_ok_raises_with_the_readable_report():
    with pytest.raises(AssertionError, match="relu-at-zero"):
        check_backward(lambda dy, x: dy * (x >= 0), "relu", input=(1, 1, 5)).assert_ok()
    assert "**OK" in check_backward(torch_relu, "relu", input=(1, 1, 2))._repr_markdown_()


@pytest.mark.parametrize("kind", CHECK_KINDS)
def test_every_kind_has_an_edge_catalogue_of_at_least_30_valid_configurations(kind):
    specs = list(edge_specs(kind))
    assert len(specs) >= 30
    assert len({repr(s) for _, s in specs}) == len(specs)


def test_the_conv2d_catalogue_has_the_edges_the_issue_names():
    names = " | ".join(name for name, _ in RULES["conv2d"].check.edge_cases("conv2d"))
    for edge in ("stride = kernel", "dilation 2", "depthwise", "groups 2", "kernel 2 (asymmetric)", "1x1 kernel",
                 "kernel = input"):
        assert edge in names
    pools = " | ".join(name for name, _ in RULES["avgpool2d"].check.edge_cases("avgpool2d"))
    for edge in ("overlap", "ceil_mode", "count_include_pad off"):
        assert edge in pools


@pytest.mark.parametrize("kind, function", [("conv2d", "conv2d"), ("maxpool2d", "max_pool2d"), ("relu", "relu"),
                                            pytest.param("conv1d", "conv1d", marks=pytest.mark.slow),
                                            pytest.param("conv3d", "conv3d", marks=pytest.mark.slow),
                                            pytest.param("maxpool1d", "max_pool1d", marks=pytest.mark.slow),
                                            pytest.param("avgpool2d", "avg_pool2d", marks=pytest.mark.slow),
                                            pytest.param("avgpool1d", "avg_pool1d", marks=pytest.mark.slow),
                                            pytest.param("leaky_relu", "leaky_relu", marks=pytest.mark.slow)])
def test_pytorch_passes_the_whole_edge_suite(kind, function):
    result = run_suite(getattr(F, function), kind, "torch")
    assert result.ok and not [c for c in result.cases if c.skipped]


def test_a_wrong_function_fails_the_suite_and_the_line_names_the_mistake():
    result = run_suite(lambda dy, x: dy * (x >= 0), "relu")
    assert not result.ok
    from symconv.check.suite import SUITE_WRITERS

    lines = SUITE_WRITERS["text"](result).splitlines()
    assert all("(relu-at-zero)" in line for line in lines if line.startswith("WRONG"))
    assert lines[-1] == "30 configurations of relu: 0 ok, 30 wrong"


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symconv", "check", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_exit_status_is_0_right_1_wrong_2_bad_input(tmp_path):
    (tmp_path / "mine.py").write_text(
        "import numpy as np\n"
        "def right(dy, x):\n    return dy * (x > 0)\n"
        "def wrong(dy, x):\n    print('debugging output')\n    return dy * (x >= 0)\n"
        "NOT_CALLABLE = 3\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(4)\n")
    ok = _cli("mine.py:right", "relu", "--input", "1,2,3", cwd=tmp_path)
    assert ok.returncode == 0 and "OK: every gradient" in ok.stdout
    bad = _cli("mine.py:wrong", "relu", "--input", "1,2,3", "--format", "json", cwd=tmp_path)
    assert bad.returncode == 1 and json.loads(bad.stdout)["diagnosis"][0]["class"] == "relu-at-zero"
    assert "debugging output" in bad.stderr  # what the user's code prints stays out of the JSON
    for args, message in [
        (["nope.py:f", "relu", "--input", "1,2,3"], "target: got 'nope.py:f', expected an existing Python file"),
        (["mine.py:missing", "relu", "--input", "1,2,3"], "expected a callable named missing"),
        (["mine.py:NOT_CALLABLE", "relu", "--input", "1,2,3"], "expected a callable, not a int"),
        (["mine.py", "relu", "--input", "1,2,3"], "target: got 'mine.py', expected path/to/file.py:function"),
        (["mine.py:right", "relu"], "input: got nothing, expected --input"),
        (["mine.py:right", "relu", "--suite", "edge", "--input", "1,2,3"], "expected no layer options"),
        (["mine.py:right", "relu", "--input", "1,2,3", "--forward", "mine.py:right"], "forward: got"),
        (["mine.py:right", "conv1d", "--input", "1,1,4", "--weight", "1,1,2", "--convention", "cs231n"],
         "convention: got 'cs231n' for this layer, expected conv2d"),
        (["mine.py:right", "relu", "--input", "1,2,3", "--stride", "2"], "stride: got '2', expected no stride"),
        (["exits.py:f", "relu", "--input", "1,2,3"], "expected a file that imports, but running it raised SystemExit: 4"),
        (["mine.py:right", "conv1d", "--input", "1,1,2147483647", "--weight", "1,1,2"], "expected at most 16,777,216"),
    ]:
        result = _cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_cli_torch_suite_reports_nothing_wrong():
    result = _cli("torch.nn.functional:conv2d", "conv2d", "--convention", "torch", "--suite", "edge")
    assert result.returncode == 0, result.stdout
    assert "0 wrong" in result.stdout.splitlines()[-1]


def test_the_check_shows_in_every_format():
    report = check_backward(lambda dy, x: dy * (x >= 0), "relu", input=(1, 1, 5))
    from symconv.check.writers import WRITERS

    for fmt, writer in WRITERS.items():
        assert "relu-at-zero" in writer(report), fmt


def test_symconv_check_backward_is_public():
    assert symconv.check_backward is check_backward
