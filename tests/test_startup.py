"""Start-up: a refusal, --help and --version never import SymPy (or NumPy).

SymPy takes about 0.8 s to import, more than the whole budget of a refusal.
This is a structural test, not a timed one: a fresh interpreter runs each
command line through the CLI's ``main`` and reports, at the moment the
command ends, its exit status and whether ``sympy`` or ``numpy`` is in
``sys.modules``. The cases run in one interpreter, in order, so the first
case that loads SymPy is the first to fail.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: (id, command line, exit status, a fragment of stderr)
CASES = [
    ("help", ["--help"], 0, ""),
    ("version", ["--version"], 0, ""),
    ("derive-help", ["derive", "--help"], 0, ""),
    ("verify-help", ["verify", "--help"], 0, ""),
    ("derive-conv2d-over-max-terms",
     ["derive", "conv2d", "--input", "1,3,256,256", "--weight", "64,3,7,7"], 2, "max-terms"),
    ("derive-conv1d-long-kernel",
     ["derive", "conv1d", "--input", "1,1,2000000000", "--weight", "1,1,1000000000"], 2, "max-terms"),
    ("derive-maxpool2d-over-max-terms",
     ["derive", "maxpool2d", "--input", "1,3,256,256", "--kernel", "7"], 2, "max-terms"),
    ("derive-avgpool1d-over-max-terms",
     ["derive", "avgpool1d", "--input", "1,1,2000000000", "--kernel", "2"], 2, "max-terms"),
    ("derive-relu-over-max-terms", ["derive", "relu", "--input", "1,64,256,256"], 2, "max-terms"),
    ("derive-conv2d-mostly-zero-entries",
     ["derive", "conv2d", "--input", "1,1,3000,3000", "--weight", "1,1,1,1", "--stride", "3000"], 2, "equations"),
    ("derive-json-over-max-terms",
     ["derive", "conv2d", "--input", "1,3,256,256", "--weight", "64,3,7,7", "--format", "json"], 2, "max-terms"),
    ("derive-operator-form-over-max-terms",
     ["derive", "conv2d", "--input", "1,3,256,256", "--weight", "64,3,7,7", "--form", "operator"], 2, "max-terms"),
    ("verify-conv2d-over-max-terms",
     ["verify", "conv2d", "--input", "1,3,256,256", "--weight", "64,3,7,7"], 2, "max-terms"),
    ("verify-maxpool2d-over-max-terms",
     ["verify", "maxpool2d", "--input", "1,3,256,256", "--kernel", "7"], 2, "max-terms"),
    ("derive-stack-over-max-terms",
     ["derive", "stack", "--input", "1,3,256,256", "--layers", "conv2d(weight=64,3,7,7) | relu"], 2, "max-terms"),
    ("verify-stack-over-max-terms",
     ["verify", "stack", "--input", "1,3,256,256", "--layers", "conv2d(weight=64,3,7,7) | relu"], 2, "max-terms"),
    ("derive-over-a-small-max-terms",
     ["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--max-terms", "10"], 2, "max-terms"),
    ("bad-stride", ["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--stride", "x"], 2, "stride"),
    ("huge-stride", ["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2",
                     "--stride", "99999999999999999999"], 2, "at most"),
    ("negative-seed", ["verify", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--seed", "-1"], 2, "seed"),
    ("explain-help", ["explain", "--help"], 0, ""),
    ("explain-kind-without-formula", ["explain", "relu"], 2, "a kind explain derives"),
    ("explain-option-without-input", ["explain", "conv2d", "--stride", "2"], 2, "without --input"),
    ("explain-sizes-without-at", ["explain", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2"], 2, "--at"),
    ("explain-over-max-terms",
     ["explain", "conv2d", "--input", "1,3,256,256", "--weight", "64,3,7,7", "--at", "0,0,0,0"], 2, "max-terms"),
]

_RUN = r"""
import contextlib, io, json, sys
from symconv.cli.app import main

for args in json.loads(sys.argv[1]):
    sys.argv = ["symconv"] + args
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code
    print(json.dumps({"code": code, "stderr": err.getvalue(),
                      "sympy": "sympy" in sys.modules, "numpy": "numpy" in sys.modules}))
"""


@pytest.fixture(scope="module")
def outcomes():
    completed = subprocess.run(
        [sys.executable, "-c", _RUN, json.dumps([args for _, args, _, _ in CASES])],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == len(CASES), completed.stdout + completed.stderr
    return {name: json.loads(line) for (name, *_), line in zip(CASES, lines)}


@pytest.mark.parametrize("name, args, code, fragment", [pytest.param(*case, id=case[0]) for case in CASES])
def test_command_ends_without_importing_sympy_or_numpy(outcomes, name, args, code, fragment):
    outcome = outcomes[name]
    assert outcome["code"] == code, outcome
    assert fragment in outcome["stderr"], outcome
    if code == 2:
        assert outcome["stderr"].count("\n") == 1 and "Traceback" not in outcome["stderr"], outcome
    assert not outcome["sympy"], f"{' '.join(args)} imported sympy"
    assert not outcome["numpy"], f"{' '.join(args)} imported numpy"


def test_the_spec_modules_import_neither_sympy_nor_numpy():
    code = ("import sys, symconv.spec.conv, symconv.spec.pool, symconv.spec.options, symconv.spec.stack; "
            "print('sympy' in sys.modules, 'numpy' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["False", "False"]


#: Derivations that are printed with arrays alone: SymPy is never imported (the
#: README's first example must cost little more than importing NumPy and click).
NO_SYMPY_DERIVATIONS = [
    ["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2"],
    ["conv1d", "--input", "2,2,5", "--weight", "2,1,2", "--groups", "2", "--reduction", "mean"],
    ["conv3d", "--input", "1,1,3,3,3", "--weight", "1,1,2,2,2", "--padding", "1", "--padding-mode", "reflect"],
    ["conv_transpose2d", "--input", "2,1,3,3", "--weight", "1,2,2,2", "--stride", "2", "--reduction", "mean"],
    ["maxpool2d", "--input", "1,2,5,5", "--kernel", "3", "--stride", "2", "--padding", "1"],
    ["maxpool1d", "--input", "2,1,5", "--kernel", "2", "--stride", "1", "--padding", "1", "--reduction", "mean"],
    ["avgpool2d", "--input", "1,1,5,5", "--kernel", "2", "--padding", "1", "--no-count-include-pad"],
    ["avgpool1d", "--input", "2,1,6", "--kernel", "3", "--divisor-override", "2", "--reduction", "mean"],
    ["relu", "--input", "1,1,2,3"],
    ["leaky_relu", "--input", "2,1,3", "--negative-slope", "-2/3", "--reduction", "mean"],
    ["stack", "--input", "2,1,6,6", "--layers",
     "conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2) | avgpool2d(kernel=3, stride=1)"],
    # the 3-D and adaptive pools, through the same builders (the pool interface)
    ["maxpool3d", "--input", "1,2,4,4,3", "--kernel", "2", "--stride", "1,2,1", "--padding", "1"],
    ["avgpool3d", "--input", "2,1,3,4,4", "--kernel", "3", "--stride", "2", "--padding", "1",
     "--no-count-include-pad", "--reduction", "mean"],
    ["adaptive_maxpool1d", "--input", "2,1,7", "--output-size", "3", "--reduction", "mean"],
    ["adaptive_maxpool2d", "--input", "1,1,5,7", "--output-size", "3,4"],
    ["adaptive_avgpool1d", "--input", "1,1,5", "--output-size", "3"],
    ["adaptive_avgpool2d", "--input", "2,2,3,3", "--output-size", "1", "--reduction", "mean"],
    ["adaptive_avgpool3d", "--input", "1,1,3,5,4", "--output-size", "2,3,3"],
    # sums of products like a convolution's
    ["linear", "--input", "3,4", "--weight", "2,4", "--reduction", "mean"],
    ["flatten", "--input", "2,2,1,3"],
    ["stack", "--input", "2,1,2,6,6", "--layers",
     "maxpool3d(kernel=1,2,2) | adaptive_avgpool3d(output_size=1,2,2) | flatten | linear(weight=3,4)"],
]
NO_SYMPY_FORMATS = [["--format", "latex"], ["--format", "latex", "--standalone"], ["--format", "markdown"],
                    ["--format", "text", "--index-base", "1"], ["--format", "json"]]


def test_deriving_convolutions_pools_activations_and_stacks_never_imports_sympy():
    """Structural, not timed: every format of every such derivation runs in one interpreter without SymPy."""
    lines = [["derive"] + layer + fmt for layer in NO_SYMPY_DERIVATIONS for fmt in NO_SYMPY_FORMATS]
    completed = subprocess.run([sys.executable, "-c", _RUN, json.dumps(lines)], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr
    outcomes = [json.loads(line) for line in completed.stdout.splitlines()]
    assert len(outcomes) == len(lines)
    for args, outcome in zip(lines, outcomes):
        assert outcome["code"] == 0, (args, outcome)
        assert not outcome["sympy"], f"{' '.join(args)} imported sympy"


def test_the_python_api_imports_sympy_only_when_an_expression_is_asked_for():
    code = ("import sys, symconv\n"
            "d = symconv.derive(symconv.pool_spec('maxpool2d', (1, 1, 4, 4), kernel=2))\n"
            "text = symconv.render(d, 'json')\n"
            "before = 'sympy' in sys.modules\n"
            "expr = d.gradients['dx'][(0, 0, 0, 0)]\n"
            "print(before, 'sympy' in sys.modules, type(expr).__name__)\n")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["False", "True", "Mul"]


@pytest.mark.parametrize("given, expected", [(None, "1"), ("2", "2")])
def test_derive_asks_openblas_for_one_thread_before_numpy_loads_unless_told(given, expected):
    """OpenBLAS's threads start with NumPy and cost a short command a third of its time; derive needs none."""
    import os

    code = ("import os, sys\nfrom symconv.cli.app import main\n"
            "sys.argv = ['symconv', 'derive', 'relu', '--input', '1,1,2', '-o', os.devnull]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), 'numpy' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [expected, "True"]
