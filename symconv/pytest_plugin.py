"""symconv's pytest plugin (registered through the ``pytest11`` entry point): a ``check_backward`` fixture.

::

    def test_my_conv_backward(check_backward):
        check_backward(my_conv_backward, "conv2d", input=(2, 3, 7, 7), weight=(4, 3, 3, 3), stride=2)

The fixture takes :func:`symconv.check_backward`'s arguments, fails the test
with the readable report when a gradient is wrong, and returns the report.
``--symconv-seed N`` changes the probes' seed for every check that does not
give its own. Nothing of symconv is imported until a test asks for the fixture.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("symconv")
    group.addoption("--symconv-seed", type=int, default=0, metavar="N",
                    help="seed of the probes of symconv's check_backward fixture (default 0)")


@pytest.fixture
def check_backward(request):
    """Check a backward pass with symconv; the test fails with the report if a gradient is wrong."""
    seed = request.config.getoption("--symconv-seed")

    def check(fn, kind, **options):
        from symconv.check import check_backward as run

        options.setdefault("seed", seed)
        report = run(fn, kind, **options)
        if not report.ok:
            pytest.fail(report.text(), pytrace=False)
        return report
    return check
