r"""Sigmoid and tanh: forward as SymPy functions of each element, reference, and words.

Sigmoid is written ``1/(1 + exp(-x))`` rather than as a function of its own:
SymPy's ``str()`` of it is then read back by plain ``parse_expr`` (the JSON
contract), and the engine differentiates it, by SymPy's ``diff``, into
``exp(-x)/(1 + exp(-x))**2``, which is :math:`\sigma(x)(1 - \sigma(x))` and
is printed so. Tanh is SymPy's ``tanh``, whose derivative SymPy writes
``1 - tanh(x)**2``. Neither is rational: the exact check does not apply.

>>> from symconv.spec.activation import activation_spec
>>> smooth_forward(activation_spec("sigmoid", (1, 2)))[(0, 1)]
1/(1 + exp(-x[0, 1]))
>>> smooth_forward(activation_spec("tanh", (1, 2)))[(0, 0)]
tanh(x[0, 0])
"""

from __future__ import annotations

from symconv.layers.rule import LayerRule, input_only
from symconv.layers.smooth_check import CHECK
from symconv.symbolic.tensors import element, indices

def _sigmoid(z):
    from sympy import Pow, exp

    # Built unevaluated: evaluating the power asks SymPy's assumptions about exp(-z) (about 6 ms),
    # and gives this same expression (parse_expr of its str() is equal to it; a test holds it).
    return Pow(1 + exp(-z), -1, evaluate=False)


def _tanh(z):
    from sympy import tanh

    return tanh(z)


#: Each kind's function of one element, and its reference kernels' names in :mod:`symconv.reference`
#: (SymPy and the kernels load when a layer of the kind is derived or checked, not with the rule table).
_KINDS = {
    "sigmoid": (_sigmoid, "sigmoid_forward", "sigmoid_backward"),
    "tanh": (_tanh, "tanh_forward", "tanh_backward"),
}


def smooth_forward(spec, input_name: str = "x") -> dict:
    """Every output of sigmoid or tanh, keyed by index."""
    function = _KINDS[spec.kind][0]
    return {index: function(element(input_name, index)) for index in indices(spec.input)}


def _reference(spec, names, scale):
    from symconv import reference

    forward, backward = (getattr(reference, name) for name in _KINDS[spec.kind][1:])
    x, up = names["x"], "d" + names["y"]
    return (lambda values: forward(values[x])), (lambda values: {"d" + x: backward(values[up], values[x]) * float(scale)})


def _chain(spec, tex):
    x, up = tex["x"], tex["dy"]
    if spec.kind == "sigmoid":
        return [(r"\partial " + x, r"%s \odot \sigma(%s) \odot (1 - \sigma(%s))" % (up, x, x))]
    return [(r"\partial " + x, r"%s \odot (1 - \tanh^{2}(%s))" % (up, x))]


def _notes(spec, names):
    if spec.kind == "sigmoid":
        return [("sigma(z) = 1/(1 + exp(-z)), so sigma'(z) = exp(-z)/(1 + exp(-z))^2 = sigma(z)(1 - sigma(z))",
                 r"$\sigma(z) = 1/(1 + e^{-z})$, so $\sigma'(z) = e^{-z}/(1 + e^{-z})^2 = \sigma(z)(1 - \sigma(z))$.")]
    return [("tanh'(z) = 1 - tanh(z)^2", r"$\tanh'(z) = 1 - \tanh^2(z)$.")]


RULE = LayerRule(
    kinds=("sigmoid", "tanh"),
    forward=lambda spec, names: smooth_forward(spec, names["x"]),
    tensors=input_only,
    reference=_reference,
    smooth=True,
    details=lambda spec: [],
    chain=_chain,
    kinks=lambda spec, x, origin: (None, origin),  # element-wise: equal inputs, equal outputs
    rational=False,
    curved=True,
    notes=_notes,
    check=CHECK,
)
