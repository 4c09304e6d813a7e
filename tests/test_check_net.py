"""symconv check on the layers of a small network: linear, flatten, sigmoid, tanh, batch norm.

Right functions are PyTorch's own (through autograd, in the torch convention
or wrapped in the plain one), so a pass is judged against an implementation
that shares nothing with symconv. Every wrong function below is written by
hand the way the mistake is made, never from symconv's mistake models.
"""

import subprocess
import sys

import numpy as np
import pytest

from symconv.check import check_backward
from symconv.check.suite import run_suite

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def autograd(forward):
    """A plain-convention backward ``fn(dy, *inputs, **opts)`` from a torch forward."""
    def backward(dy, *inputs, **opts):
        tensors = [_t(a) for a in inputs]
        forward(*tensors, **opts).backward(torch.tensor(dy))
        grads = [t.grad.numpy() for t in tensors]
        return grads[0] if len(grads) == 1 else tuple(grads)
    return backward


def batch_norm(x, w, b, eps):
    return F.batch_norm(x, None, None, w, b, training=True, eps=eps)


def names(report):
    return [finding.name for finding in report.diagnosis]


LAYERS = [
    ("linear", F.linear, dict(input=(3, 4), weight=(5, 4))),
    ("linear", lambda x, w: F.linear(x, w), dict(input=(2, 3), weight=(2, 3), bias=False)),
    ("flatten", lambda x: torch.flatten(x, 1), dict(input=(2, 3, 2, 2))),
    ("sigmoid", torch.sigmoid, dict(input=(2, 3, 4))),
    ("tanh", torch.tanh, dict(input=(2, 2, 3, 3))),
    ("batchnorm1d", batch_norm, dict(input=(4, 3))),
    ("batchnorm1d", batch_norm, dict(input=(2, 3, 5), eps="1/10")),
    ("batchnorm2d", batch_norm, dict(input=(2, 3, 2, 2), eps="1e-3")),
]


@pytest.mark.parametrize("kind, forward, options", LAYERS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(LAYERS)])
def test_pytorch_passes_in_both_conventions(kind, forward, options):
    torch_report = check_backward(forward, kind, convention="torch", **options)
    assert torch_report.ok and torch_report.forward.ok, torch_report.text()
    plain = check_backward(autograd(forward), kind, **options)
    assert plain.ok and not names(plain), plain.text()


def test_torch_functions_are_checked_as_they_are():
    # The functions themselves, options by PyTorch's names: flatten gets start_dim=1, batch norm eps.
    assert check_backward(torch.flatten, "flatten", convention="torch", input=(2, 3, 4)).ok
    assert check_backward(F.linear, "linear", convention="torch", input=(2, 3), weight=(4, 3)).ok
    report = check_backward(lambda x, w, b, eps: batch_norm(x, w, b, eps + 1e-3), "batchnorm2d", convention="torch",
                            input=(2, 2, 2, 2))
    assert not report.ok and not report.forward.ok  # eps reaches the function, and a wrong one shows in y


# ---- each mistake, made by hand -----------------------------------------------------------------------------

def linear_layout(dy, x, w, b):  # the gradients of y = x w, written for PyTorch's y = x w^T
    return dy @ w.T, x.T @ dy, dy.sum(axis=0)


def linear_first_sample(dy, x, w, b):
    return dy @ w, np.outer(dy[0], x[0]), dy[0]


def flatten_fortran(dy, x):
    return dy.reshape(x.shape, order="F")


def flatten_channels_last(dy, x):
    n, c, h, w = x.shape
    return dy.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def sigmoid_at_input(dy, x):
    return dy * x * (1 - x)


def sigmoid_no_dy(dy, x):
    s = 1 / (1 + np.exp(-x))
    return s * (1 - s)


def tanh_at_input(dy, x):
    return dy * (1 - x ** 2)


def tanh_no_square(dy, x):
    return dy * (1 - np.tanh(x))


def _bn(x, eps, ddof=0):
    axes = (0,) + tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    root = np.sqrt(x.var(axis=axes, keepdims=True, ddof=ddof) + eps)
    return axes, (x - mean) / root, root


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def bn_constant_statistics(dy, x, w, b, eps):
    axes, xhat, root = _bn(x, eps)
    return dy * _per_channel(w, x) / root, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def bn_no_variance_path(dy, x, w, b, eps):
    axes, xhat, root = _bn(x, eps)
    g = dy * _per_channel(w, x)
    return (g - g.mean(axis=axes, keepdims=True)) / root, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def bn_unbiased(dy, x, w, b, eps):  # torch.var's default inside a hand-made forward, through autograd
    xt, wt, bt = _t(x), _t(w), _t(b)
    axes = (0,) + tuple(range(2, x.ndim))
    mean, var = xt.mean(dim=axes, keepdim=True), xt.var(dim=axes, keepdim=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = wt.view(shape) * (xt - mean) / torch.sqrt(var + eps) + bt.view(shape)
    y.backward(torch.tensor(dy))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def bn_last_sample(dy, x, w, b, eps):
    dx, _, _ = autograd(batch_norm)(dy, x, w, b, eps=eps)
    axes, xhat, _ = _bn(x, eps)
    inner = tuple(a - 1 for a in axes[1:])
    return dx, (dy[-1] * xhat[-1]).sum(axis=inner), dy[-1].sum(axis=inner)


MISTAKES = [
    (linear_layout, "linear", dict(input=(2, 3), weight=(3, 3)), "weight-layout", ("dx", "dw")),
    (linear_first_sample, "linear", dict(input=(3, 2), weight=(4, 2)), "batch-not-summed", ("dw", "db")),
    (flatten_fortran, "flatten", dict(input=(2, 3, 4, 2)), "column-major", ("dx",)),
    (flatten_channels_last, "flatten", dict(input=(2, 3, 2, 2)), "channels-last", ("dx",)),
    (sigmoid_at_input, "sigmoid", dict(input=(2, 3, 4)), "derivative-at-input", ("dx",)),
    (sigmoid_no_dy, "sigmoid", dict(input=(2, 3, 4)), "upstream-ignored", ("dx",)),
    (tanh_at_input, "tanh", dict(input=(2, 3, 4)), "derivative-at-input", ("dx",)),
    (tanh_no_square, "tanh", dict(input=(2, 3, 4)), "square-missing", ("dx",)),
    (bn_constant_statistics, "batchnorm2d", dict(input=(2, 3, 2, 2)), "statistics-held-constant", ("dx",)),
    (bn_no_variance_path, "batchnorm1d", dict(input=(4, 3)), "variance-path-missing", ("dx",)),
    (bn_unbiased, "batchnorm2d", dict(input=(2, 2, 3, 3), eps="1/100"), "unbiased-variance", ("dx", "dw")),
    (bn_last_sample, "batchnorm1d", dict(input=(3, 2, 4)), "batch-not-summed", ("dw", "db")),
]


@pytest.mark.parametrize("fn, kind, options, mistake, gradients", MISTAKES, ids=[m[0].__name__ for m in MISTAKES])
def test_each_mistake_is_named_for_the_gradients_it_spoils(fn, kind, options, mistake, gradients):
    report = check_backward(fn, kind, **options)
    assert not report.ok
    found = {f.name: f.gradients for f in report.diagnosis}
    assert mistake in found and set(found[mistake]) == set(gradients), report.text()
    assert {g for g, result in report.gradients.items() if not result.ok} == set(gradients)


def test_a_transposed_weight_gradient_is_named_though_its_shape_is_wrong():
    report = check_backward(lambda dy, x, w, b: (dy @ w, x.T @ dy, dy.sum(axis=0)), "linear", input=(2, 3),
                            weight=(4, 3))
    assert report.gradients["dw"].problem == "returned shape [3, 4], expected [4, 3]"
    assert names(report) == ["weight-layout"]
    # A reshaped right answer is not "1 times the right gradient".
    reshaped = check_backward(lambda dy, x, w, b: (dy @ w, (dy.T @ x).reshape(3, 4), dy.sum(axis=0)), "linear",
                              input=(2, 3), weight=(4, 3))
    assert not reshaped.ok and names(reshaped) == []


def test_blind_spots_of_a_single_sample_say_to_take_two():
    report = check_backward(autograd(batch_norm), "batchnorm2d", input=(1, 2, 3, 3))
    spots = {spot.name: spot for spot in report.blind_spots}
    assert report.ok and spots["batch-not-summed"].suggest == "try --input 2,2,3,3"
    report = check_backward(autograd(F.linear), "linear", input=(1, 3), weight=(2, 3))
    assert {spot.name: spot.suggest for spot in report.blind_spots}["batch-not-summed"] == "try --input 2,3"


def test_batch_norm_is_not_offered_the_mistakes_of_sample_by_sample_layers():
    report = check_backward(bn_constant_statistics, "batchnorm1d", input=(3, 2))
    assert "overwrite-not-accumulate" not in names(report) + [s.name for s in report.blind_spots]


def test_a_wrong_function_fails_the_edge_suite_on_every_configuration_that_can_show_it():
    result = run_suite(tanh_no_square, "tanh")
    assert not result.ok and all(not case.report.ok for case in result.ran)
    assert all("square-missing" in names(case.report) for case in result.ran)


@pytest.mark.parametrize("kind, fn", [
    ("sigmoid", torch.sigmoid),
    pytest.param("linear", F.linear, marks=pytest.mark.slow),
    pytest.param("flatten", torch.flatten, marks=pytest.mark.slow),
    pytest.param("tanh", torch.tanh, marks=pytest.mark.slow),
    pytest.param("batchnorm1d", batch_norm, marks=pytest.mark.slow),
    pytest.param("batchnorm2d", batch_norm, marks=pytest.mark.slow),
])
def test_pytorch_passes_the_whole_edge_suite(kind, fn):
    result = run_suite(fn, kind, "torch")
    assert result.ok and len(result.ran) >= 30 and not [c for c in result.cases if c.skipped]


BN_FILE = '''
import numpy as np

def backward(dy, x, w, b, eps):
    axes = (0, 2, 3)
    root = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - x.mean(axis=axes, keepdims=True)) / root
    return dy * w.reshape(1, -1, 1, 1) / root, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)
'''


def _symconv(*args, cwd):
    return subprocess.run([sys.executable, "-m", "symconv", *args], capture_output=True, text=True, cwd=cwd)


def test_the_command_line_checks_a_batch_norm_with_its_eps(tmp_path):
    (tmp_path / "bn.py").write_text(BN_FILE)
    done = _symconv("check", "bn.py:backward", "batchnorm2d", "--input", "2,3,2,2", "--eps", "1/1000", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "eps 1/1000" in done.stdout and "statistics-held-constant: dx" in done.stdout
    refused = _symconv("check", "bn.py:backward", "batchnorm2d", "--input", "2,3,2,2", "--convention", "cs231n",
                       cwd=tmp_path)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        "Error: convention: got 'cs231n' for batchnorm2d, expected conv2d, maxpool2d or avgpool2d "
        "(the course's batchnorm_backward takes its own cache)"]


@pytest.mark.parametrize("shape", [(2, 3), (2, 1), (1, 3, 2), (2, 4)])
@pytest.mark.parametrize("eps", [1e-7, 1e-8, 1e-12])
def test_two_values_per_channel_and_a_tiny_eps_are_judged_by_the_terms_round_off(shape, eps):
    # With M = 2, dx is of the order of eps: a near cancellation of terms |dy w| / s, whose round-off
    # (PyTorch's and the reference's) is far above 1e-9 of dx itself.
    for seed in range(3):
        report = check_backward(batch_norm, "batchnorm1d", convention="torch", input=shape, eps=eps, seed=seed)
        assert report.ok and not names(report), report.text()
    wrong = check_backward(bn_constant_statistics, "batchnorm1d", input=shape, eps=eps)
    assert not wrong.ok and "statistics-held-constant" in names(wrong)


def test_an_eps_float64_cannot_carry_is_refused_in_one_line(tmp_path):
    (tmp_path / "bn.py").write_text(BN_FILE)
    done = _symconv("check", "bn.py:backward", "batchnorm2d", "--input", "2,3,2,2", "--eps", "1e-400", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "Error: eps: got '1e-400', expected at least 1e-200 (a constant channel's gradient divides by eps^(3/2), "
        "which float64 cannot hold below that)"]
    assert check_backward(autograd(batch_norm), "batchnorm2d", input=(2, 1, 2, 2), eps="1e-200").ok


def test_for_an_n_c_l_input_flattens_two_wrong_orders_are_one_and_named_once():
    report = check_backward(flatten_fortran, "flatten", input=(2, 3, 4))
    assert names(report) == ["channels-last"] and "order='F'" in report.diagnosis[0].message


def test_a_missing_input_is_asked_for_in_the_kinds_own_shape(tmp_path):
    done = _symconv("check", "torch.nn.functional:linear", "linear", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "Error: input: got nothing, expected --input N,IN (or --suite edge)"


def test_a_blind_spot_is_only_suggested_a_change_that_shows_every_gradient_it_hides():
    # At w 1x1 the layout mistake hides in dx and dw; a non-square w cannot show it in dx (dy w^T would not
    # even have dx's shape), so the change offered is a larger square w.
    report = check_backward(autograd(F.linear), "linear", input=(1, 1), weight=(1, 1))
    spot = {s.name: s for s in report.blind_spots}["weight-layout"]
    assert set(spot.gradients) == {"dx", "dw"} and spot.suggest == "try --input 1,2 --weight 2,2"
