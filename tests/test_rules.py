"""The layer rule table, and verify's power to catch a wrong term wherever it is."""

import pytest
from sympy import Integer

from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.layers import RULES, rule_for
from symconv.names import LAYER_KINDS
from symconv.spec import activation_spec, conv_spec, pool_spec
from symconv.spec.stack import parse_layers, stack_spec
from symconv.verify.layer import verify
from symconv.verify.stack import verify_stack


def test_every_kind_has_exactly_one_rule():
    assert sorted(RULES) == sorted(LAYER_KINDS)


def test_an_unknown_kind_is_refused_by_name():
    class Conv4dSpec:
        kind = "conv4d"

    with pytest.raises(SymconvError, match=r"layer: got 'conv4d', expected one of conv1d, conv2d, conv3d, "):
        rule_for(Conv4dSpec())


def _tampered(derivation, tensor, index, layer=None):
    """The derivation with one gradient entry changed by + 1 (of layer ``layer`` in a stack)."""
    gradients = derivation.gradients if layer is None else derivation.gradients[layer]
    table = dict(gradients[tensor].items())
    table[index] = table[index] + Integer(1)
    changed = dict(gradients, **{tensor: table})
    if layer is None:
        return type(derivation)(derivation.spec, derivation.forward, changed, derivation.shapes, derivation.reduction)
    every = list(derivation.gradients)
    every[layer] = changed
    return type(derivation)(derivation.spec, derivation.names, derivation.forward, every, derivation.shapes,
                            derivation.reduction)


LAYERS = {
    "conv2d-dw": (conv_spec("conv2d", (1, 2, 4, 4), (2, 2, 2, 2), stride=2), "dw", (1, 0, 1, 1)),
    "maxpool2d-dx": (pool_spec("maxpool2d", (1, 1, 4, 4), kernel=2), "dx", (0, 0, 2, 3)),
    "avgpool1d-dx": (pool_spec("avgpool1d", (1, 2, 6), kernel=3, stride=2, padding=1), "dx", (0, 1, 4)),
    "relu-dx": (activation_spec("relu", (1, 1, 3, 3)), "dx", (0, 0, 1, 2)),
    "leaky-dx": (activation_spec("leaky_relu", (1, 2, 3)), "dx", (0, 1, 0)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_verify_names_the_tampered_entry_of_a_layer(name):
    spec, tensor, index = LAYERS[name]
    derivation = derive(spec)
    assert verify(derivation).passed
    report = verify(_tampered(derivation, tensor, index))
    assert not report.passed
    failed = [check for check in report.checks if not check.passed]
    assert [check.name for check in failed] == [tensor]
    shown = f"{tensor}[{', '.join(map(str, index))}]"
    assert failed[0].where.startswith(shown + ": derived")
    assert f"{tensor}: {shown}: derived" in report.table()


STACK = "conv2d(weight=2,1,2,2, padding=1) | relu | maxpool2d(kernel=2) | conv2d(weight=1,2,2,2)"


@pytest.mark.parametrize("layer, tensor, index", [
    (0, "dw1", (1, 0, 0, 1)),   # a parameter at the bottom of the chain
    (1, "dh1", (0, 1, 2, 3)),   # an inner gradient that the relu passes down
    (2, "dh2", (0, 0, 1, 1)),   # the max pool's routing
    (3, "db2", (0,)),           # the top layer's bias
])
def test_verify_stack_names_the_tampered_entry(layer, tensor, index):
    derivation = derive(stack_spec((1, 1, 5, 5), parse_layers(STACK)))
    assert verify_stack(derivation).passed
    report = verify_stack(_tampered(derivation, tensor, index, layer))
    assert not report.passed
    shown = f"{tensor}[{', '.join(map(str, index))}]"
    failing = {check.name: check for check in report.checks if not check.passed}
    assert tensor in failing and failing[tensor].where.startswith(shown + ": derived")
