"""The progress bar: on stderr for jobs over a second on a terminal, and nowhere else.

It appears at once when the size estimate says the job will run over a
second, and otherwise once the job has run for a second (a background
thread draws it, so a long derivation is not silent). Never on stdout,
never in a -o file, never when stderr is not a terminal.
"""

import io
import time

from click.testing import CliRunner

import symconv.cli.derive as cli
import symconv.cli.verify as verify_cli
from symconv.cli import cli as group
from symconv.spec.conv import conv_spec

BIG = conv_spec("conv2d", (1, 3, 48, 48), (8, 3, 3, 3), padding=1)  # ~1.6 M terms
SMALL = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))
SMALL_ARGS = "conv2d --input 1,1,4,4 --weight 1,1,2,2".split()


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_at_once_for_jobs_expected_over_a_second(monkeypatch):
    assert BIG.estimate_terms() / cli.TERMS_PER_SECOND > cli.SHOW_AFTER_SECONDS
    terminal = FakeTerminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    with cli._progress(BIG) as step:
        assert "symconv: deriving" in terminal.getvalue()  # before any step
        step.total(3)
        for _ in range(3):
            step()
    assert "100%" in terminal.getvalue()
    assert terminal.getvalue().endswith("\n")


def test_no_bar_for_a_quick_job(monkeypatch):
    assert SMALL.estimate_terms() / cli.TERMS_PER_SECOND < cli.SHOW_AFTER_SECONDS
    quiet = FakeTerminal()
    monkeypatch.setattr(cli.sys, "stderr", quiet)
    with cli._progress(SMALL) as step:
        step.total(3)
        step()
    assert quiet.getvalue() == ""


def test_bar_once_a_job_underestimated_runs_over_the_threshold(monkeypatch):
    """A max pool costs far more per term than the estimate assumes: time decides too."""
    monkeypatch.setattr(cli, "SHOW_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(cli, "REDRAW_SECONDS", 0.05)
    terminal = FakeTerminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    with cli._progress(SMALL) as step:
        step.total(2)
        time.sleep(0.5)  # one long step, with nothing done yet: still shown
        assert "symconv: deriving" in terminal.getvalue() and "  0%" in terminal.getvalue()
        step()
        assert " 50%" in terminal.getvalue()
        step()
    assert "100%" in terminal.getvalue()


def test_never_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(cli, "SHOW_AFTER_SECONDS", 0.01)
    pipe = io.StringIO()
    monkeypatch.setattr(cli.sys, "stderr", pipe)
    with cli._progress(BIG) as step:
        step.total(1)
        time.sleep(0.1)
        step()
    assert pipe.getvalue() == ""


def test_a_failed_job_leaves_the_bar_where_it_stopped(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    try:
        with cli._progress(BIG) as step:
            step.at(1, 4)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert " 25%" in terminal.getvalue() and "100%" not in terminal.getvalue()
    assert terminal.getvalue().endswith("\n")


def test_the_total_may_grow_and_the_bar_follows(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    with cli._progress(BIG) as step:
        step.at(1, 2)
        assert " 50%" in terminal.getvalue()
        step.at(2, 8)  # more work discovered (verify: the derivation, then the checks)
        assert terminal.getvalue().rsplit("\r", 1)[-1].startswith("symconv: deriving [######      ")
        assert " 25%" in terminal.getvalue() and "100%" not in terminal.getvalue()
    assert terminal.getvalue().rsplit("\r", 1)[-1].split("]")[1].startswith(" 100%")


def _run_on_a_terminal(monkeypatch, args):
    """Run the CLI in process with stderr a terminal: ``(stdout, stderr, exit code)``."""
    out, err = io.StringIO(), FakeTerminal()
    monkeypatch.setattr(cli.sys, "stdout", out)
    monkeypatch.setattr(cli.sys, "stderr", err)
    try:
        group.main(args, prog_name="symconv", standalone_mode=False)
        code = 0
    except SystemExit as exit:
        code = exit.code
    return out.getvalue(), err.getvalue(), code


def test_derive_shows_progress_on_stderr_only(monkeypatch):
    plain = CliRunner().invoke(group, ["derive", *SMALL_ARGS, "--format", "json"]).stdout
    monkeypatch.setattr(cli, "TERMS_PER_SECOND", 1)  # every job "expected" long
    out, err, code = _run_on_a_terminal(monkeypatch, ["derive", *SMALL_ARGS, "--format", "json"])
    assert code == 0 and out == plain
    assert "symconv: deriving" in err and "100%" in err and "{" not in err


def test_verify_shows_progress_on_stderr_only(monkeypatch, tmp_path):
    plain = CliRunner().invoke(group, ["verify", *SMALL_ARGS]).stdout
    monkeypatch.setattr(verify_cli, "VERIFY_TERMS_PER_SECOND", 1)
    out, err, code = _run_on_a_terminal(monkeypatch, ["verify", *SMALL_ARGS])
    assert code == 0 and out == plain
    assert "symconv: verifying" in err and "100%" in err and "tensor" not in err
    report = tmp_path / "report.json"
    out, err, code = _run_on_a_terminal(monkeypatch, ["verify", *SMALL_ARGS, "--format", "json", "-o", str(report)])
    assert code == 0 and out == "" and "symconv: verifying" in err
    assert report.read_text(encoding="utf-8").startswith("{") and "verifying" not in report.read_text()


def test_verify_reports_each_step_in_order():
    from symconv.engine.derive import derive
    from symconv.verify import verify

    seen = []
    verify(derive(SMALL), progress=lambda done, total: seen.append((done, total)))
    total = 1 + 1 + 3  # float evaluation, one exact trial, finite differences of dx, dw, db
    assert seen == [(done, total) for done in range(total + 1)]


def test_no_bar_when_stderr_is_not_a_terminal():
    result = CliRunner().invoke(group, "derive conv2d --input 1,3,48,48 --weight 8,3,3,3 --padding 1 --format json".split())
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith("{")
    verified = CliRunner().invoke(group, "verify conv2d --input 1,3,16,16 --weight 8,3,3,3 --padding 1".split())
    assert verified.exit_code == 0 and verified.stderr == ""
