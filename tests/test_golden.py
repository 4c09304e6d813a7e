"""Golden outputs: every command in tests/golden/commands.txt prints exactly what it printed.

Pins stdout, stderr, the -o file and the exit status byte for byte, so a
restructuring of the package can show it changed no output. The commands run
through the same helper that recorded them (tests/golden/_run.py). A failure
shows a short unified diff; if the change is intended, regenerate that golden
with ``tests/golden/record.py --force ID`` and say so in the commit message.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
import _run  # noqa: E402  (tests/golden/_run.py, shared with record.py)

COMMANDS = _run.read_commands()
MAX_DIFF_LINES = 40


def _diff(name: str, expected: bytes, actual: bytes) -> str:
    """A unified diff of at most MAX_DIFF_LINES lines, or where the bytes first differ."""
    old = expected.decode("utf-8", "backslashreplace").splitlines(keepends=True)
    new = actual.decode("utf-8", "backslashreplace").splitlines(keepends=True)
    lines = list(difflib.unified_diff(old, new, f"golden {name}", f"actual {name}", n=2))
    if not lines:  # same text, different bytes (cannot happen for valid UTF-8, but be exact)
        at = next((i for i, (a, b) in enumerate(zip(expected, actual)) if a != b), min(len(expected), len(actual)))
        return f"{name}: bytes differ at offset {at} ({len(expected)} B golden, {len(actual)} B actual)\n"
    shown = [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines]
    if len(shown) > MAX_DIFF_LINES:
        shown = shown[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more diff lines\n"]
    return "".join(shown)


@pytest.mark.parametrize("ident, args", COMMANDS, ids=[ident for ident, _ in COMMANDS])
def test_golden(ident, args):
    exits = _run.read_exits()
    assert ident in exits and (_run.HERE / f"{ident}.out").exists(), (
        f"no golden for {ident}: record it with tests/golden/record.py {ident}"
    )
    expected = _run.read_golden(ident, exits)
    actual = _run.run(args)

    problems = []
    if actual.exit_code != expected.exit_code:
        problems.append(f"exit status: golden {expected.exit_code}, actual {actual.exit_code}\n")
    for name, old, new in (
        ("stdout", expected.stdout, actual.stdout),
        ("stderr", expected.stderr, actual.stderr),
    ):
        if old != new:
            problems.append(_diff(f"{ident} {name}", old, new))
    if expected.file != actual.file:
        if expected.file is None or actual.file is None:
            state = lambda data: "none written" if data is None else f"{len(data)} B"  # noqa: E731
            problems.append(f"-o file: golden {state(expected.file)}, actual {state(actual.file)}\n")
        else:
            problems.append(_diff(f"{ident} -o file", expected.file, actual.file))
    if problems:
        pytest.fail(f"symconv {' '.join(args)}\n" + "".join(problems), pytrace=False)


def test_no_stray_goldens():
    """Every golden file and exits.json entry belongs to a command in commands.txt."""
    ids = {ident for ident, _ in COMMANDS}
    stray = sorted(
        path.name for path in _run.HERE.iterdir() if path.suffix in _run.SUFFIXES and path.stem not in ids
    )
    stray += sorted(f"exits.json:{ident}" for ident in set(_run.read_exits()) - ids)
    assert not stray, f"goldens without a command in commands.txt: {stray}"
