"""The README shows real output: its examples are regenerated and compared."""

import re
from pathlib import Path

import pytest

from conftest import layer
from symconv.printing.formats import render

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


def _cli_output(args):
    from click.testing import CliRunner

    from symconv.cli.app import cli

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_readme_layer_examples_are_real_output():
    text = README.read_text()
    examples = {
        "derive maxpool2d --input 1,1,4,4 --kernel 2 --index-base 1": [
            r"y_{11} &= \max(x_{11}, x_{12}, x_{21}, x_{22}) \\",
            r"\frac{\partial L}{\partial x_{12}} &= dy_{11}\,[x_{12} = m_{11}] \\",
        ],
        "derive avgpool1d --input 1,1,5 --kernel 3 --stride 2 --padding 1 --format text": [
            "  y[1] = 1/3*(x[1] + x[2] + x[3])",
            "  dx[1] = 1/3*(dy[0] + dy[1])",
        ],
        "derive relu --input 1,1,3 --format text": ["dx[0] = dy[0]*[x[0] > 0]"],
    }
    for args, lines in examples.items():
        output = _cli_output(args.split())
        for line in lines:
            assert line in text and line in output, line
    stack = [b for b in _blocks("latex") if "rot180" in b][0]
    output = _cli_output(["derive", "stack", "--input", "1,1,6,6", "--layers",
                          "conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2) | conv2d(weight=1,2,2,2)"])
    for line in stack.strip().splitlines():
        assert line in output, line


def test_readme_loss_examples_are_real_output():
    """The losses section: mse's dy and dx lines, and the worked example's chain, as printed."""
    text = README.read_text()
    output = _cli_output("derive relu --input 1,2,2 --loss mse --format text".split())
    for line in ("  dy[0,0,0] = 1/2*(y[0,0,0] - t[0,0,0])", "  dx[0,0,0] = dy[0,0,0]*[x[0,0,0] > 0]"):
        assert f"\n{line}\n" in text and line in output.splitlines(), line
    chain = [b for b in _blocks("latex") if "softmax" in b][0]
    command = [b for b in _blocks("sh") if "--loss cross_entropy" in b][0].splitlines()[0]
    import shlex

    output = _cli_output(shlex.split(command)[1:])
    for line in chain.strip().splitlines():
        assert line in output.splitlines(), line


def test_readme_sigmoid_and_batch_norm_blocks_are_real_output():
    blocks = _blocks("text")
    for command, marker in (("derive sigmoid --input 1,2 --format text", "  y[0,0] = sigma(x[0,0])"),
                            ("derive batchnorm1d --input 2,1 --format text", "  mu[0] = ")):
        (block,) = [b for b in blocks if b.startswith(marker)]
        output = _cli_output(command.split())
        for line in block.strip("\n").splitlines():
            assert line in output.splitlines(), line


def test_readme_formula_and_matrix_blocks_are_real_output():
    blocks = _blocks("latex")
    formula = [b for b in blocks if r"\partial x_{n,c,h,q}" in b][0]
    printed = _cli_output(["formula", "conv2d"])
    assert formula.strip() in printed and r"\text{where } k = " in formula  # with its tightened bounds
    size = [b for b in blocks if b.startswith("\\begin{align*}\nH_{o} &= ")][0]
    assert size.strip() in printed
    matrix = [b for b in blocks if b.startswith("dw &= \\begin{bmatrix}")][0]
    output = _cli_output("derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --form matrix --index-base 1".split())
    for line in matrix.strip().splitlines():
        assert line in output, line


def test_readme_python_example_runs(capsys):
    """The README's Python block, run as it stands, with the public API only."""
    (block,) = [b for b in _blocks("python") if "import symconv" in b]
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.startswith("dy[0, 0, 0, 0]*w[0, 0, 1, 1] + ")
    assert r"\frac{\partial L}{\partial x_{22}}" in printed  # the 1-based LaTeX
    assert "all checks passed" in printed
    assert "# conv2d: index formulas for every size" in printed


def test_readme_quick_loop_is_a_real_selection():
    assert '-m "not slow"' in README.read_text()


def test_readme_check_example_is_real_output():
    """The README's `symconv check` report is what the command prints, line for line."""
    import subprocess
    import sys

    command = [b for b in _blocks("sh") if "symconv check conv2d_kernel_not_flipped" in b][0].strip()
    folder, args = command.split(" && ")
    shown = [b for b in _blocks("text") if b.startswith("symconv check: conv2d_kernel_not_flipped")][0]
    result = subprocess.run([sys.executable, "-m", "symconv", *args.split()[1:]], capture_output=True, text=True,
                            cwd=README.parent / folder.split()[1])
    assert result.returncode == 1
    assert result.stdout == shown


def _readme_commands():
    """Every complete `symconv ...` command the README shows, in code blocks and in the text."""
    import shlex

    text = README.read_text()
    found = []
    for block in _blocks("sh"):
        found += [line.split("  #")[0].strip() for line in block.splitlines()]
    found += re.findall(r"`(symconv [^`]+)`", text.replace("\n", " "))
    commands = []
    for line in dict.fromkeys(found):
        if "symconv " not in line or line.startswith("python3.11"):
            continue
        words = shlex.split(line.split("&& ")[-1].split(" > ")[0])
        placeholder = any(w in ("...", "TARGET", "KIND") or w.startswith("<") for w in words)
        bare_bar = any("|" in w and previous != "--layers" for previous, w in zip([""] + words, words))
        if not placeholder and not bare_bar and len(words) > 2:
            commands.append(line)
    return commands


COMMANDS = _readme_commands()


def test_the_readme_shows_commands_to_run():
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_command_runs(command, tmp_path):
    """Each command runs as the README gives it: exit 0 (1 for the deliberately wrong backward), no traceback."""
    import shlex
    import subprocess
    import sys

    folder = tmp_path
    if command.startswith("cd "):
        folder = README.parent / command.split()[1]
    words = shlex.split(command.split("&& ")[-1].split(" > ")[0])  # stdout is captured, not redirected
    result = subprocess.run([sys.executable, "-m", "symconv", *words[1:]], capture_output=True, text=True,
                            cwd=folder, timeout=120)
    expected = 1 if "kernel_not_flipped" in command else 0
    assert result.returncode == expected, result.stderr
    assert "Traceback" not in result.stderr


def test_the_readme_verify_table_is_what_verify_prints():
    """The table as printed, its error columns aside (they are rounding noise, machine by machine)."""
    import subprocess
    import sys

    text = README.read_text()
    start = text.index("```\nconv2d: x 2x3x7x7, w 4x3x3x3, stride 2, padding 1, dilation 1 (seed 0)\ntensor") + 4
    shown = text[start:text.index("```", start)]
    printed = subprocess.run([sys.executable, "-m", "symconv", "verify", "conv2d", "--input", "2,3,7,7", "--weight",
                              "4,3,3,3", "--stride", "2", "--padding", "1"], capture_output=True, text=True).stdout

    def masked(table):
        return re.sub(r"\d\.\de-\d\d", "E", table)
    assert masked(shown) == masked(printed)


def test_readme_explain_block_is_real_output():
    """The seeds' 4x4 example step by step, as `symconv explain` prints it, in the README."""
    command = "explain conv2d --input 1,1,4,4 --weight 1,1,2,2 --at 2,2 --index-base 1 --format text"
    assert f"`symconv {command}`" in README.read_text()
    shown = [b for b in _blocks("text") if b.startswith("conv2d: the gradient dx[2,2], step by step")][0]
    assert _cli_output(command.split()) == shown
    assert "dx[2,2] = dy[1,1]*w[2,2] + dy[1,2]*w[2,1] + dy[2,1]*w[1,2] + dy[2,2]*w[1,1]" in shown
