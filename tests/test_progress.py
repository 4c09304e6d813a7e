"""The progress bar appears for long jobs on a terminal, and nowhere else."""

import io

from click.testing import CliRunner

import symconv.cli.derive as cli
from symconv.cli import cli as group
from symconv.spec.conv import conv_spec

BIG = conv_spec("conv2d", (1, 3, 48, 48), (8, 3, 3, 3), padding=1)  # ~1.6 M terms
SMALL = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_only_for_long_jobs_on_a_terminal(monkeypatch):
    assert BIG.estimate_terms() / cli.TERMS_PER_SECOND > 2
    terminal = FakeTerminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    with cli._progress(BIG) as step:
        step.total(3)
        for _ in range(3):
            step()
    assert "symconv: deriving" in terminal.getvalue()
    assert "100%" in terminal.getvalue()
    quiet = FakeTerminal()
    monkeypatch.setattr(cli.sys, "stderr", quiet)
    with cli._progress(SMALL) as step:
        step.total(3)
        step()
    assert quiet.getvalue() == ""


def test_no_bar_when_stderr_is_not_a_terminal():
    result = CliRunner().invoke(group, "derive conv2d --input 1,3,48,48 --weight 8,3,3,3 --padding 1 --format json".split())
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith("{")
