"""The package's shape, as the README's "How it is built" describes it.

The import rules themselves are import-linter contracts (pyproject.toml),
run by ``lint-imports`` in CI; these tests hold what import-linter cannot see.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "symconv"
SOURCES = sorted(PACKAGE.rglob("*.py"))

#: Ways of asking which kind a spec is. Only the rule table (layers/) asks;
#: the specs (spec/) may describe themselves.
KIND_TESTS = re.compile(
    r"isinstance\([^)]*(ConvSpec|PoolSpec|ActivationSpec)|\.is_max\b|(?<!dtype)\.kind\s*(==|!=|in\b)|kind\.startswith"
    r"|hasattr\((spec|layer|derivation)|getattr\([^)]*[\"'](is_max|kind|layers|weight|kernel)[\"']"
)


def _relative(path):
    return path.relative_to(PACKAGE.parent).as_posix()


@pytest.mark.parametrize("path", SOURCES, ids=_relative)
def test_no_module_is_over_400_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


@pytest.mark.parametrize("path", [p for p in SOURCES if p.parent.name not in ("layers", "spec")], ids=_relative)
def test_only_the_rule_table_asks_for_a_specs_kind(path):
    found = [f"{number}: {line.strip()}" for number, line in enumerate(path.read_text().splitlines(), 1)
             if KIND_TESTS.search(line)]
    assert not found, "ask symconv.layers.rule_for(spec) instead:\n" + "\n".join(found)


def test_the_pattern_catches_a_kind_test():
    assert KIND_TESTS.search("if isinstance(layer, ConvSpec):")
    assert KIND_TESTS.search('elif layer.kind == "relu":')
    assert not KIND_TESTS.search("rule = rule_for(layer)")


def test_deriving_loads_no_printing_verification_or_pictures():
    code = (
        "import sys\n"
        "from symconv.engine.derive import derive\n"
        "from symconv.spec import conv_spec, pool_spec\n"
        "derive(conv_spec('conv2d', (1, 1, 4, 4), (1, 1, 2, 2)))\n"
        "derive(pool_spec('maxpool2d', (1, 1, 4, 4), kernel=2))\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('symconv.')}))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for stage in ("printing", "verify", "plot", "cli"):
        assert f"'{stage}'" not in loaded, loaded
    assert "'engine'" in loaded and "'layers'" in loaded


def test_import_symconv_loads_neither_sympy_nor_numpy():
    code = "import sys, symconv; print('sympy' in sys.modules, 'numpy' in sys.modules, sorted(dir(symconv)))"
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.startswith("False False ")
    for name in ("derive", "verify", "render", "formula", "conv_spec", "pool_spec", "activation_spec",
                 "stack_spec", "SymconvError", "reference"):
        assert f"'{name}'" in printed


@pytest.mark.parametrize("first", ["function", "package"])
def test_verify_and_formula_are_the_public_functions_whichever_is_imported_first(first):
    """symconv.verify and symconv.formula are packages too; importing one of their modules first changes nothing."""
    code = (
        ("import symconv.verify.layer, symconv.formula.index\n" if first == "package" else "") +
        "import symconv\n"
        "d = symconv.derive(symconv.conv_spec('conv1d', (1, 1, 3), (1, 1, 2)))\n"
        "print(symconv.verify(d).passed, sorted(symconv.formula('conv1d')))\n"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "True ['db', 'dw', 'dx', 'forward']"
