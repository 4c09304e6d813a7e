"""Record the golden outputs of the commands in tests/golden/commands.txt.

    .venv/bin/python tests/golden/record.py              # every command without a golden yet
    .venv/bin/python tests/golden/record.py ID ...       # only these ids
    .venv/bin/python tests/golden/record.py --force ...  # overwrite existing goldens

Each command runs exactly as tests/test_golden.py runs it (the shared helper in
_run.py): stdout goes to <id>.out, stderr (when not empty) to <id>.err, a file
written with -o to <id>.file, the exit status to exits.json.

The goldens are the CLI's contract: tests/test_golden.py fails when a single
byte changes. Existing goldens are never overwritten without --force, and
regenerating one is a decision, not a fix for a failing test: state in the
commit message which goldens were regenerated and why their output had to
change. Adding a command (a new id with no golden yet) needs no --force.
"""

from __future__ import annotations

import argparse
import sys

import _run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="ids from commands.txt (default: all)")
    parser.add_argument("--force", action="store_true", help="overwrite existing goldens")
    options = parser.parse_args(argv)

    commands = dict(_run.read_commands())
    unknown = [ident for ident in options.ids if ident not in commands]
    if unknown:
        parser.error("not in commands.txt: " + ", ".join(unknown))
    wanted = options.ids or list(commands)
    exits = _run.read_exits()

    existing = [ident for ident in wanted if _run.golden_files(ident) or ident in exits]
    if existing and not options.force:
        if options.ids:
            print("refusing to overwrite the goldens of: " + ", ".join(existing), file=sys.stderr)
            print("(regenerating is a decision to state in the commit message; pass --force)", file=sys.stderr)
            return 1
        wanted = [ident for ident in wanted if ident not in existing]
        if not wanted:
            print(f"all {len(commands)} goldens exist; nothing recorded (--force to regenerate)")
            return 0
        print(f"{len(existing)} goldens exist and are kept (--force to regenerate)")

    for ident in wanted:
        output = _run.run(commands[ident])
        _run.write_golden(ident, output)
        exits[ident] = output.exit_code
        extra = " +file" if output.file is not None else ""
        print(f"{ident}: exit {output.exit_code}, {len(output.stdout)} B stdout, "
              f"{len(output.stderr)} B stderr{extra}")

    stale = sorted(set(exits) - set(commands))
    if stale:
        print("in exits.json but not in commands.txt (remove with their files): " + ", ".join(stale),
              file=sys.stderr)
    _run.write_exits(exits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
