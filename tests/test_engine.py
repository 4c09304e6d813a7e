"""The engine is an honest differentiator: its co-factor rule equals SymPy's diff."""

import pytest
from sympy import Add, Indexed, diff, sin

from conftest import layer
from symconv.engine.derive import differentiate
from symconv.symbolic.tensors import element

GRID = {
    "1d": dict(kind="conv1d", input=(2, 2, 7), weight=(3, 2, 3), stride=2, padding=1),
    "1d-dilated-groups": dict(kind="conv1d", input=(1, 4, 9), weight=(4, 2, 2), dilation=3, groups=2),
    "2d-seed": dict(),
    "2d-stride-pad": dict(input=(1, 2, 5, 6), weight=(2, 2, 3, 2), stride=(2, 1), padding=(1, 0)),
    "2d-same-dilated": dict(input=(1, 1, 5, 5), weight=(1, 1, 2, 3), padding="same", dilation=2),
    "2d-depthwise": dict(input=(2, 3, 4, 4), weight=(6, 1, 2, 2), groups=3, stride=3),
    "2d-no-bias": dict(input=(1, 2, 4, 3), weight=(1, 2, 2, 2), bias=False),
}


@pytest.mark.parametrize("config", GRID.values(), ids=GRID.keys())
def test_structural_rule_equals_sympy_diff(config):
    structural = layer(**config)
    by_sympy = differentiate(
        structural.forward,
        {k: v for k, v in structural.shapes.items() if k != "y" and v is not None},
        method="sympy",
    )
    assert structural.gradients.keys() == by_sympy.keys()
    for name, table in structural.gradients.items():
        for index, expr in table.items():
            assert expr == by_sympy[name][index], (name, index)


@pytest.mark.parametrize("config", [GRID["1d"], GRID["2d-seed"]], ids=["1d", "2d-seed"])
def test_equals_diff_of_the_whole_loss(config):
    """The quadratic way everyone tries first, on a layer small enough for it."""
    d = layer(**config)
    loss = Add(*(element("dy", i) * y for i, y in d.forward.items()))
    for name, table in d.gradients.items():
        for index, expr in table.items():
            assert expr == diff(loss, element(name[1:], index)), (name, index)


def test_fallback_handles_powers_repeats_and_functions():
    """Terms that are not plain products take SymPy's diff, not the co-factor."""
    x0, x1 = element("x", (0,)), element("x", (1,))
    forward = {(0,): x0**2 * x1 + sin(x1), (1,): x0 * x0 * 3}
    for method in ("structural", "sympy"):
        g = differentiate(forward, {"x": (3,)}, method=method)["dx"]
        dy0, dy1 = element("dy", (0,)), element("dy", (1,))
        assert (g[(0,)] - (dy0 * 2 * x0 * x1 + dy1 * 6 * x0)).expand() == 0
        assert (g[(1,)] - dy0 * (x0**2 + sin(x1).diff(x1))).expand() == 0
        assert g[(2,)] == 0


def test_every_element_is_present_and_only_indexed_atoms_appear():
    d = layer(**GRID["2d-stride-pad"])
    assert len(d.gradients["dx"]) == 1 * 2 * 5 * 6
    assert len(d.gradients["dw"]) == 2 * 2 * 3 * 2
    for table in d.gradients.values():
        for expr in table.values():
            assert {a.base.name for a in expr.atoms(Indexed)} <= {"dy", "x", "w"}


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        differentiate({}, {"x": (1,)}, method="guess")
