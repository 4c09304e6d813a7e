"""``-o FILE`` is written all at once or not at all (symconv.cli.files), by every command.

A refused, failed or interrupted run leaves an existing FILE byte for byte as
it was and no temporary file behind; a FILE that cannot be written is bad
input (one line, exit 2, no traceback), before any work and at write time;
Ctrl-C is one line and exit 130. What a successful run writes is what it
would print.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from symconv.cli import files
from symconv.cli.app import cli

PRECIOUS = b"precious contents, not to be touched\n"
TARGET = "def right(dy, x):\n    return dy * (x > 0)\n"

needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2+: stderr is always separate
        return CliRunner()


def invoke(args):
    return _runner().invoke(cli, [str(a) for a in args])


def command(name, folder: Path):
    """(arguments before -o, suffix of FILE) of a small run of each command that writes -o FILE."""
    if name == "check":
        (folder / "mine.py").write_text(TARGET, encoding="utf-8")
        return ["check", f"{folder / 'mine.py'}:right", "relu", "--input", "1,2,3"], ".txt"
    return {
        "derive": (["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2"], ".tex"),
        "formula": (["formula", "conv1d", "--format", "text"], ".txt"),
        "render": (["render", "formula", "conv1d"], ".pdf"),
        "plot": (["plot", "conv1d", "--input", "1,1,4", "--weight", "1,1,2"], ".png"),
    }[name]


COMMANDS = ["derive", "formula", "render", "plot", "check"]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def assert_one_line_refusal(result, *fragments, code=2):
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --------------------------------------------------------------------------
# Unwritable paths: bad input, one line, exit 2
# --------------------------------------------------------------------------

def _unwritable(kind, folder: Path, suffix: str) -> tuple[str, str]:
    """(path, a fragment of the message) for each kind of unwritable FILE."""
    if kind == "directory":
        return str(folder), "directory"
    if kind == "missing-directory":
        return str(folder / "no-such-folder" / f"out{suffix}"), "expected a file in an existing directory"
    if kind == "under-a-file":
        (folder / "plain").write_bytes(b"")
        return str(folder / "plain" / f"out{suffix}"), "expected a file in an existing directory"
    if kind == "read-only-directory":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only directories")
        (folder / "locked").mkdir()
        (folder / "locked").chmod(0o555)
        return str(folder / "locked" / f"out{suffix}"), "expected a file in a writable directory"
    if kind == "read-only-file":
        if os.geteuid() == 0:
            pytest.skip("root writes read-only files")
        (folder / f"locked{suffix}").write_bytes(PRECIOUS)
        (folder / f"locked{suffix}").chmod(0o444)
        return str(folder / f"locked{suffix}"), "writable"
    system = {"proc": f"/proc/symconv-out{suffix}", "proc-version": "/proc/version",
              "sys": f"/sys/kernel/symconv-out{suffix}"}[kind]
    if not os.path.isdir(os.path.dirname(system)):
        pytest.skip(f"no {os.path.dirname(system)} here")
    return system, "expected a file in a writable directory"


@pytest.mark.parametrize("name, kind", [
    (name, kind) for name in COMMANDS
    for kind in ["directory", "missing-directory", "under-a-file", "read-only-directory", "read-only-file", "proc",
                 "proc-version", "sys"]
    if not (kind == "proc-version" and name in ("render", "plot"))])  # they need a .pdf or .png name
def test_an_unwritable_output_is_refused_in_one_line(tmp_path, name, kind):
    args, suffix = command(name, tmp_path)
    path, fragment = _unwritable(kind, tmp_path, suffix)
    result = invoke(args + ["-o", path])
    assert_one_line_refusal(result, fragment)
    assert repr(path) in result.stderr or path in result.stderr
    assert leftovers(tmp_path) == []


def test_proc_and_sys_are_refused_before_any_work(tmp_path):
    """The messages the issue quotes: no traceback any more, and no derivation first."""
    if not os.path.isdir("/proc") or not os.path.isdir("/sys/kernel"):
        pytest.skip("no /proc or /sys here")
    for path in ("/proc/version", "/sys/kernel/x.tex"):
        result = invoke(["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "-o", path])
        assert_one_line_refusal(result, f"Error: Invalid value for '--output': got {path!r}, "
                                        "expected a file in a writable directory")


def test_verify_writes_its_output_atomically_too(tmp_path):
    target = tmp_path / "report.json"
    target.write_bytes(PRECIOUS)
    refused = invoke(["verify", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,9,9", "-o", target])
    assert refused.exit_code == 2 and target.read_bytes() == PRECIOUS and leftovers(tmp_path) == []
    done = invoke(["verify", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--format", "json", "-o", target])
    assert done.exit_code == 0 and target.read_text().startswith("{") and leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["derive", "formula", "check"])
def test_an_error_while_writing_is_one_line_exit_2(tmp_path, name):
    """/dev/full takes the file open and refuses the bytes: the OSError comes at write time."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    args, _ = command(name, tmp_path)
    result = invoke(args + ["-o", "/dev/full"])
    assert_one_line_refusal(result, "got '/dev/full', expected a writable file (No space left on device)")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@pytest.mark.parametrize("name", [n if n != "render" else pytest.param(n, marks=needs_pdflatex) for n in COMMANDS])
def test_an_oserror_at_the_rename_keeps_the_file_and_is_one_line(tmp_path, monkeypatch, name):
    args, suffix = command(name, tmp_path)
    target = tmp_path / f"out{suffix}"
    target.write_bytes(PRECIOUS)

    def replace(source, destination):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(files.os, "replace", replace)
    result = invoke(args + ["-o", target])
    assert_one_line_refusal(result, f"got {str(target)!r}, expected a writable file (Input/output error)")
    assert target.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------
# An existing FILE survives refused, failed and interrupted runs
# --------------------------------------------------------------------------

#: A bad option given after -o FILE, per command.
BAD_AFTER = {"derive": ["--stride", "x"], "formula": ["--format", "pdf"], "render": ["--bogus"],
             "plot": ["--kind", "nope"], "check": ["--seed", "-1"]}


@pytest.mark.parametrize("name", COMMANDS)
def test_a_refused_run_leaves_the_file_alone(tmp_path, name):
    args, suffix = command(name, tmp_path)
    target = tmp_path / f"out{suffix}"
    target.write_bytes(PRECIOUS)
    assert_one_line_refusal(invoke(args + ["-o", target] + BAD_AFTER[name]))
    assert target.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


def test_a_size_refusal_leaves_the_file_alone(tmp_path):
    target = tmp_path / "out.tex"
    target.write_bytes(PRECIOUS)
    result = invoke(["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "-o", target, "--max-terms", "10"])
    assert_one_line_refusal(result, "max-terms")
    assert target.read_bytes() == PRECIOUS


@pytest.mark.parametrize("suffix", [".pdf", ".png"])
def test_a_failing_pdflatex_leaves_the_file_alone(tmp_path, monkeypatch, suffix):
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("pdflatex", "pdftoppm"):
        (tools / tool).write_text("#!/bin/sh\nexit 1\n")
        (tools / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ.get('PATH', '')}")
    target = tmp_path / f"out{suffix}"
    target.write_bytes(PRECIOUS)
    result = invoke(["render", "conv1d", "--input", "1,1,4", "--weight", "1,1,2", "-o", target])
    assert_one_line_refusal(result, "render: pdflatex failed")
    assert target.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


def _half_written_text(monkeypatch):
    """render returns text that cannot be encoded: the write fails half way through."""
    import symconv.printing.documents as documents

    real = documents.render
    monkeypatch.setattr(documents, "render", lambda *a, **k: real(*a, **k) + "\udc80")


def test_a_text_write_failing_half_way_leaves_the_file_alone(tmp_path, monkeypatch):
    _half_written_text(monkeypatch)
    target = tmp_path / "out.tex"
    target.write_bytes(PRECIOUS)
    result = invoke(["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "-o", target])
    assert isinstance(result.exception, UnicodeEncodeError)
    assert target.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error, code", [(RuntimeError, None), (KeyboardInterrupt, 130)])
def test_a_picture_failing_half_way_leaves_the_file_alone(tmp_path, monkeypatch, error, code):
    from matplotlib.figure import Figure

    def savefig(self, path, **options):
        Path(path).write_bytes(b"half a picture")
        raise error("stopped while saving")

    monkeypatch.setattr(Figure, "savefig", savefig)
    target = tmp_path / "out.png"
    target.write_bytes(PRECIOUS)
    result = invoke(["plot", "conv1d", "--input", "1,1,4", "--weight", "1,1,2", "-o", target])
    if code is None:
        assert isinstance(result.exception, error)
    else:  # raised, not signalled: click's blank line comes first, then the one message
        assert result.exit_code == code and result.stderr.strip() == "symconv: interrupted"
    assert target.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


def test_replacing_removes_its_temporary_file_when_interrupted(tmp_path):
    target = tmp_path / "out.txt"
    target.write_bytes(PRECIOUS)
    with pytest.raises(KeyboardInterrupt):
        with files.replacing(str(target)) as temporary:
            Path(temporary).write_bytes(b"half")
            assert Path(temporary).parent == tmp_path and leftovers(tmp_path)
            raise KeyboardInterrupt
    assert target.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


def test_ctrl_c_during_a_long_derivation_is_one_line_and_exit_130(tmp_path):
    target = tmp_path / "grads.tex"
    target.write_bytes(PRECIOUS)
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "symconv", "derive", "conv2d", "--input", "1,3,64,64", "--weight", "16,3,3,3",
         "--padding", "1", "--max-terms", "100000000", "-o", str(target)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True,
    )
    try:
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        assert process.poll() is None, "the derivation ended before the interrupt: choose a larger layer"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert stderr == "symconv: interrupted\n"
    assert stdout == ""
    assert target.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------
# What is written: the same bytes as before, the expected permissions
# --------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [["--format", "latex"], ["--format", "latex", "--standalone"],
                                   ["--format", "markdown"], ["--format", "text"], ["--format", "json"],
                                   ["--form", "operator", "--format", "text"]])
def test_derive_writes_what_it_prints(tmp_path, extra):
    args = ["derive", "conv2d", "--input", "1,2,5,5", "--weight", "2,2,3,3", "--stride", "2", "--padding", "1"] + extra
    printed = invoke(args)
    assert printed.exit_code == 0, printed.stderr
    target = tmp_path / "out.txt"
    target.write_bytes(PRECIOUS * 1000)  # longer than what replaces it
    written = invoke(args + ["-o", target])
    assert written.exit_code == 0 and written.stdout == "" and written.stderr == ""
    assert target.read_bytes() == printed.stdout.encode("utf-8")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["formula", "check"])
def test_formula_and_check_write_what_they_print(tmp_path, name):
    args, suffix = command(name, tmp_path)
    printed = invoke(args)
    target = tmp_path / f"out{suffix}"
    written = invoke(args + ["-o", target])
    assert written.exit_code == printed.exit_code == 0, printed.stderr
    assert written.stdout == ""
    assert target.read_bytes() == printed.stdout.encode("utf-8")


def test_plot_writes_the_picture_the_library_draws(tmp_path):
    """PNG: the same bytes (an SVG's ids and date change from one drawing to the next)."""
    from symconv.engine.derive import derive
    from symconv.plot.jacobian import plot_jacobian
    from symconv.spec.conv import conv_spec

    direct = tmp_path / "direct.png"
    plot_jacobian(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))), str(direct))
    for suffix in (".png", ".svg"):
        target = tmp_path / f"out{suffix}"
        result = invoke(["plot", "conv1d", "--input", "1,1,4", "--weight", "1,1,2", "-o", target])
        assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out.png").read_bytes() == direct.read_bytes()
    assert (tmp_path / "out.svg").read_bytes().startswith(b"<?xml")
    assert leftovers(tmp_path) == []


@needs_pdflatex
def test_render_writes_a_pdf_and_no_temporary_file(tmp_path):
    target = tmp_path / "out.pdf"
    target.write_bytes(PRECIOUS)
    result = invoke(["render", "formula", "conv1d", "-o", target])
    assert result.exit_code == 0, result.stderr
    assert target.read_bytes().startswith(b"%PDF")
    assert leftovers(tmp_path) == []


def test_a_new_file_gets_the_usual_permissions_and_an_old_one_keeps_its_own(tmp_path):
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.tex"
        assert invoke(["formula", "conv1d", "-o", fresh]).exit_code == 0
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        kept = tmp_path / "kept.tex"
        kept.write_bytes(PRECIOUS)
        kept.chmod(0o600)
        assert invoke(["formula", "conv1d", "-o", kept]).exit_code == 0
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_bytes() != PRECIOUS
    finally:
        os.umask(umask)


def test_a_symbolic_link_is_written_through(tmp_path):
    real = tmp_path / "real.tex"
    real.write_bytes(PRECIOUS)
    link = tmp_path / "link.tex"
    link.symlink_to(real)
    assert invoke(["formula", "conv1d", "-o", link]).exit_code == 0
    assert link.is_symlink() and real.read_bytes().startswith(b"% conv1d")
    assert leftovers(tmp_path) == []


def test_a_named_pipe_or_dev_null_is_written_in_place(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()))
    reader.start()
    result = invoke(["formula", "conv1d", "--format", "text", "-o", pipe])
    reader.join(timeout=30)
    assert result.exit_code == 0, result.stderr
    assert received == [invoke(["formula", "conv1d", "--format", "text"]).stdout.encode("utf-8")]
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    if os.path.exists("/dev/null"):
        assert invoke(["formula", "conv1d", "-o", "/dev/null"]).exit_code == 0
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert leftovers(tmp_path) == []
