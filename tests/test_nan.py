"""NaN and infinities: handled as PyTorch does where symconv computes with values, refused where it draws them."""

import numpy as np
import pytest
from click.testing import CliRunner

from symconv.cli.app import cli
from symconv.reference import max_pool_backward, max_pool_forward

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_a_nan_is_its_windows_maximum_and_takes_the_gradient_as_in_pytorch(nd):
    rng = np.random.default_rng(nd)
    pool = (torch.nn.functional.max_pool1d, torch.nn.functional.max_pool2d, torch.nn.functional.max_pool3d)[nd - 1]
    tried = 0
    for _ in range(200):
        shape = (2, 2) + tuple(int(s) for s in rng.integers(3, 7 if nd < 3 else 5, nd))
        x = rng.integers(0, 3, shape).astype(float)
        x[rng.random(shape) < 0.2] = np.nan
        x[rng.random(shape) < 0.05] = np.inf
        k, s, d = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        p = int(rng.integers(0, k // 2 + 1))
        xt = torch.tensor(x, requires_grad=True)
        try:
            y = pool(xt, k, s, p, d)
        except RuntimeError:  # a window that does not fit: PyTorch refuses it too
            continue
        dy = rng.standard_normal(tuple(y.shape))
        y.backward(torch.tensor(dy))
        np.testing.assert_array_equal(max_pool_forward(x, k, s, p, d), y.detach().numpy())
        np.testing.assert_array_equal(max_pool_backward(dy, x, k, s, p, d), xt.grad.numpy())
        tried += 1
    assert tried > 100


def _adaptive_max_pool_agrees_with_pytorch(x, size, rng):
    """Our adaptive max pool's forward and backward equal PyTorch's, bit for bit, at ``x``."""
    from symconv.reference import adaptive_max_pool_backward, adaptive_max_pool_forward

    pool = (torch.nn.functional.adaptive_max_pool1d, torch.nn.functional.adaptive_max_pool2d)[len(size) - 1]
    xt = torch.tensor(x, requires_grad=True)
    y = pool(xt, size)
    dy = rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(dy))
    np.testing.assert_array_equal(adaptive_max_pool_forward(x, size), y.detach().numpy())
    np.testing.assert_array_equal(adaptive_max_pool_backward(dy, x, size), xt.grad.numpy())


@pytest.mark.parametrize("nd", [1, 2])
def test_a_nan_wins_an_adaptive_max_pools_window_as_in_pytorch(nd):
    rng = np.random.default_rng(10 + nd)
    for _ in range(100):
        shape = (2, 2) + tuple(int(s) for s in rng.integers(2, 8, nd))
        size = tuple(int(rng.integers(1, s + 1)) for s in shape[2:])
        x = rng.integers(0, 3, shape).astype(float)
        x[rng.random(shape) < 0.2] = np.nan
        x[rng.random(shape) < 0.05] = -np.inf
        _adaptive_max_pool_agrees_with_pytorch(x, size, rng)


def test_finite_inputs_keep_the_first_maximum():
    x = np.array([[[2.0, 2.0, 1.0, 2.0]]])
    assert max_pool_backward(np.array([[[10.0, 20.0, 30.0]]]), x, 2, stride=1).tolist() == [[[10.0, 20.0, 0.0, 30.0]]]


@pytest.mark.parametrize("values, message", [
    ("1,nan,2,3", "got '1,nan,2,3', expected ties, distinct, numbers"),
    ("1,1e400,2,3", "values: got '1e400' in --values, expected a finite number"),
])
def test_plot_values_refuse_what_is_not_a_finite_number(values, message, tmp_path):
    result = CliRunner().invoke(cli, ["plot", "maxpool1d", "--input", "1,1,4", "--kernel", "2", "--kind", "routing",
                                      "--values", values, "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2 and message in result.output


def test_plot_values_refuse_a_npy_file_holding_nan(tmp_path):
    np.save(tmp_path / "x.npy", np.array([1.0, np.nan, 2.0, 3.0]))
    result = CliRunner().invoke(cli, ["plot", "maxpool1d", "--input", "1,1,4", "--kernel", "2", "--kind", "routing",
                                      "--values", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2 and "values: got NaN or infinity in" in result.output


def test_a_check_counts_a_nan_gradient_as_wrong():
    from symconv.check import check_backward

    report = check_backward(lambda dy, x: np.where(x > 0, dy, np.nan), "relu", input=(1, 1, 4))
    assert not report.ok and report.gradients["dx"].max_abs_error == float("inf")


@pytest.mark.parametrize("shape, size", [
    ((2, 3, 7, 7), (1, 1)), ((3, 2, 9), (1,)),  # global pooling: one argmax per map
    ((2, 2, 13, 13), (6, 6)), ((1, 2, 13, 5), (6, 2)), ((2, 1, 11), (5,)),  # alike windows: strided taps
    ((4, 64, 13, 13), (6, 6)), ((4, 64, 13, 11), (5, 4)), ((8, 128, 50), (7,)),  # many maps: one gather per tap
])
def test_global_and_evenly_spaced_adaptive_max_pools_keep_pytorchs_ties_and_nans(shape, size):
    """The shortcuts for global pooling, for windows of one length at even steps and for many maps (every
    tap gathered at once, when no NaN is present) choose as PyTorch does: the first maximum, the last NaN."""
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    for trial in range(30):
        x = rng.integers(0, 3, shape).astype(float)
        if trial % 2:
            x[rng.random(shape) < 0.1] = np.nan
            x[rng.random(shape) < 0.05] = -np.inf
        _adaptive_max_pool_agrees_with_pytorch(x, size, rng)
