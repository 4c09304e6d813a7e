"""The one way golden commands are read, run and stored: record.py and test_golden.py share it.

A golden is what one ``symconv`` command line produces, byte for byte:

``<id>.out``
    standard output (always written, empty for a refusal),
``<id>.err``
    standard error, only when it is not empty,
``<id>.file``
    the file named by ``-o`` / ``--output``, when the command wrote one,
``exits.json``
    the exit status of every id.

Commands run in-process through click's ``CliRunner`` (stdout and stderr
kept apart, as in tests/test_cli.py), each in a fresh temporary working
directory so that ``-o out.txt`` never touches the checkout.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

HERE = Path(__file__).resolve().parent
COMMANDS = HERE / "commands.txt"
EXITS = HERE / "exits.json"
SUFFIXES = (".out", ".err", ".file")


@dataclass(frozen=True)
class Output:
    stdout: bytes
    stderr: bytes
    exit_code: int
    file: bytes | None  # contents of the -o/--output file, if the command wrote it


def read_commands(path: Path = COMMANDS) -> list[tuple[str, list[str]]]:
    """``[(id, args), ...]`` from ``id<TAB>args`` lines; blank lines and ``#`` comments skipped."""
    commands, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        ident, tab, args = line.partition("\t")
        ident = ident.strip()
        if not tab or not ident or not args.strip():
            raise ValueError(f"{path.name}:{number}: expected 'id<TAB>arguments', got {line!r}")
        if not all(ch.isalnum() or ch in "-_." for ch in ident):
            raise ValueError(f"{path.name}:{number}: id {ident!r} is not a plain file name")
        if ident in seen:
            raise ValueError(f"{path.name}:{number}: id {ident!r} used twice")
        seen.add(ident)
        commands.append((ident, shlex.split(args)))
    return commands


def output_path(args: list[str]) -> str | None:
    """The value of ``-o`` / ``--output`` in ``args``, if any."""
    for i, arg in enumerate(args):
        if arg in ("-o", "--output") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--output="):
            return arg[len("--output="):]
        if arg.startswith("-o") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
    return None


def _runner() -> CliRunner:
    """stdout and stderr kept apart: click >= 8.2 always does, older needs mix_stderr=False."""
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2+ removed the argument; result.stderr is separate
        return CliRunner()


def run(args: list[str]) -> Output:
    """Run ``symconv ARGS`` in-process, in an empty temporary directory.

    A Python exception escaping the command (a crash, not a refusal) is
    raised again: a golden never records a traceback.
    """
    from symconv.cli import cli  # the click group behind the console script symconv.cli:main

    runner = _runner()
    target = output_path(args)
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            result = runner.invoke(cli, list(args), prog_name="symconv")
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise RuntimeError(f"symconv {shlex.join(args)} crashed") from result.exception
            written = None
            if target is not None and Path(target).is_file():
                written = Path(target).read_bytes()
        finally:
            os.chdir(here)
    return Output(result.stdout_bytes, result.stderr_bytes or b"", result.exit_code, written)


def read_exits() -> dict[str, int]:
    return json.loads(EXITS.read_text(encoding="utf-8")) if EXITS.exists() else {}


def write_exits(exits: dict[str, int]) -> None:
    EXITS.write_text(json.dumps(dict(sorted(exits.items())), indent=1) + "\n", encoding="utf-8")


def golden_files(ident: str) -> list[Path]:
    """The files of ``ident``'s golden that exist now."""
    return [HERE / (ident + suffix) for suffix in SUFFIXES if (HERE / (ident + suffix)).exists()]


def write_golden(ident: str, output: Output) -> None:
    """Store ``output`` as ``ident``'s golden files (not exits.json: the caller merges that)."""
    for path in golden_files(ident):
        path.unlink()
    (HERE / f"{ident}.out").write_bytes(output.stdout)
    if output.stderr:
        (HERE / f"{ident}.err").write_bytes(output.stderr)
    if output.file is not None:
        (HERE / f"{ident}.file").write_bytes(output.file)


def read_golden(ident: str, exits: dict[str, int]) -> Output:
    """``ident``'s stored golden; missing .err means empty stderr, missing .file means no file."""
    out, err, file = (HERE / f"{ident}{suffix}" for suffix in SUFFIXES)
    return Output(
        stdout=out.read_bytes(),
        stderr=err.read_bytes() if err.exists() else b"",
        exit_code=exits[ident],
        file=file.read_bytes() if file.exists() else None,
    )
