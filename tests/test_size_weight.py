"""The size guard weighs a term of a layer built with SymPy: the flag it reads is what the derivation builds.

Sigmoid, tanh, batch norm and a derived loss's dy are SymPy expressions, whose
terms cost 100-2000 times a term table's (benchmarks: spec/size.py); counted as
plain terms, a sigmoid the default limit let through ran for half an hour.
"""

from __future__ import annotations

import pytest

from symconv.errors import SymconvError
from symconv.names import LAYER_KINDS
from symconv.spec.command import spec_from_options
from symconv.spec.loss import loss_spec
from symconv.spec.size import SYMPY_TERM_WEIGHT, check_size, estimate_work
from symconv.symbolic.terms import TermTable

from test_fuzz_cli import BASES


def _options(kind):
    words = BASES[kind]
    return {words[i][2:].replace("-", "_"): words[i + 1] for i in range(0, len(words), 2)}


@pytest.mark.parametrize("kind", [k for k in BASES if k != "stack"])
def test_the_flag_says_whether_the_forward_is_built_with_sympy(kind):
    from symconv.engine.derive import derive

    spec = spec_from_options(kind, **_options(kind))
    forward = derive(spec).forward
    assert spec.sympy_terms == (not isinstance(forward, TermTable)), type(forward)
    weight = SYMPY_TERM_WEIGHT if spec.sympy_terms else 1
    assert estimate_work(spec) == weight * spec.estimate_terms()


def test_every_kind_has_a_base_here():
    assert set(LAYER_KINDS) <= set(BASES)


@pytest.mark.parametrize("loss, derived_with_sympy", [("sum", False), ("mse", True), ("cross_entropy", True)])
def test_a_derived_loss_is_weighed_and_its_dy_is_sympys(loss, derived_with_sympy):
    from symconv.engine.derive import derive

    spec = spec_from_options("linear", input="2,3", weight="4,3")
    given = loss_spec(loss, None, spec.output_shape)
    derivation = derive(spec, loss=given)
    dy = derivation.dy
    assert (dy is not None and not isinstance(dy, TermTable)) == derived_with_sympy, type(dy)
    assert estimate_work(spec, given) == spec.estimate_terms() + given.estimate_terms() * (
        SYMPY_TERM_WEIGHT if derived_with_sympy else 1)


def test_a_stack_weighs_each_layer_by_its_own_kind():
    stack = spec_from_options("stack", input="2,8", layers="linear(weight=5,8) | sigmoid | linear(weight=3,5) | relu")
    linear1, sigmoid, linear2, relu = stack.layers
    assert estimate_work(stack) == (linear1.estimate_terms() + SYMPY_TERM_WEIGHT * sigmoid.estimate_terms()
                                    + linear2.estimate_terms() + relu.estimate_terms())


def test_a_large_sigmoid_is_refused_in_one_line_naming_the_weight_and_a_relu_of_its_size_is_not():
    big = spec_from_options("sigmoid", input="1,16,32,32")
    with pytest.raises(SymconvError) as error:
        check_size(big)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("max-terms: this layer needs about 65,536 terms (counted as 3,276,800: ")
    assert f"counts {SYMPY_TERM_WEIGHT} times" in message
    assert check_size(spec_from_options("relu", input="1,16,32,32")) == 65_536


def test_the_cli_refuses_it_with_exit_2():
    from click.testing import CliRunner

    from symconv.cli.app import cli

    result = CliRunner().invoke(cli, ["derive", "batchnorm2d", "--input", "8,16,32,32"])
    assert result.exit_code == 2, result.output
    assert "counted as" in result.stderr and "Traceback" not in result.output
