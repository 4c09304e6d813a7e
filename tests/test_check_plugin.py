"""The pytest plugin: the check_backward fixture and --symconv-seed, run in a pytest of their own (pytester)."""

import pytest

pytest_plugins = ["pytester"]

RIGHT_AND_WRONG = '''
import numpy as np

def relu_right(dy, x):
    return dy * (x > 0)

def relu_wrong(dy, x):
    return dy * (x >= 0)

def test_right(check_backward):
    report = check_backward(relu_right, "relu", input=(1, 2, 3))
    assert report.ok

def test_wrong(check_backward):
    check_backward(relu_wrong, "relu", input=(1, 2, 3))

def test_seed(check_backward, request):
    report = check_backward(relu_right, "relu", input=(1, 1, 2))
    print("SEED", request.config.getoption("--symconv-seed"))
'''


def test_the_fixture_passes_a_right_backward_and_fails_a_wrong_one_with_the_report(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the module itself, named with -p
    pytester.makepyfile(test_user=RIGHT_AND_WRONG)
    result = pytester.runpytest_subprocess("-p", "symconv.pytest_plugin", "-s")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*relu-at-zero: dx: the mask is x >= 0*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_the_plugin_is_registered_by_its_entry_point(pytester):
    """Installed symconv brings the fixture without -p: the pytest11 entry point."""
    pytester.makepyfile(test_user=RIGHT_AND_WRONG)
    result = pytester.runpytest_subprocess("-k", "right or seed", "--symconv-seed", "7", "-s")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*SEED 7*"])
