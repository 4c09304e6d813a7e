"""The README shows real output: its examples are regenerated and compared."""

import re
from pathlib import Path

from conftest import layer
from symconv.formats import render

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(language):
    return re.findall(r"```%s\n(.*?)```" % language, README.read_text(), flags=re.S)


def test_readme_shows_the_printed_latex_of_the_4x4_example():
    assert render(layer(), "latex", index_base=1) in _blocks("latex")


def test_readme_quick_start_is_the_ci_test_command():
    commands = [b.strip() for b in _blocks("sh") if b.count("\n") == 1]
    assert commands[0].endswith("symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2")
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci
