"""The gallery of hand-written backward passes (examples/backward/): each is diagnosed as its file says.

Every file names its KIND, CONVENTION, FUNCTION (and FORWARD), OPTIONS and
the MISTAKE it makes (None for a right one). The gallery's own self-check
proves each file against PyTorch's autograd, independently of symconv.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from symconv.check import check_backward  # noqa: E402

GALLERY = Path(__file__).resolve().parent.parent / "examples" / "backward"
FILES = sorted(p for p in GALLERY.glob("*.py") if not p.name.startswith("_"))


def _constants(path):
    """The file's upper-case constants, read as literals (the file is run only by the check itself)."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper():
            found[node.targets[0].id] = ast.literal_eval(node.value) if not isinstance(node.value, ast.Call) else \
                {k.arg: ast.literal_eval(k.value) for k in node.value.keywords}
    return found


def test_the_gallery_has_12_wrong_and_3_right_functions_at_least():
    mistakes = [_constants(p)["MISTAKE"] for p in FILES]
    assert sum(m is None for m in mistakes) >= 3
    assert len({m for m in mistakes if m}) >= 12


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_gallery_function_is_diagnosed_as_written(path):
    c = _constants(path)
    forward = f"{path}:{c['FORWARD']}" if c.get("FORWARD") else None
    report = check_backward(f"{path}:{c['FUNCTION']}", c["KIND"], convention=c["CONVENTION"], forward=forward,
                            **c["OPTIONS"])
    named = [f.name for f in report.diagnosis]
    if c["MISTAKE"] is None:
        assert report.ok and not named, report.text()
    else:
        assert not report.ok and c["MISTAKE"] in named, report.text()


def test_the_gallery_is_what_it_says_by_pytorch():
    result = subprocess.run([sys.executable, str(GALLERY / "_selfcheck.py")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
