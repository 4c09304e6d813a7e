"""Derive a layer or a stack: one loop over layers, each differentiated by its own rule.

A single layer is a chain of one. Each layer's forward comes from its rule
(:mod:`symconv.layers`), with the layer's tensor names; its gradients are
those of ``L = sum(d{y} * y)`` (:mod:`symconv.engine.differentiate`), so
in a stack each layer's upstream gradient is the one the layer above
derived for its input, as in a hand derivation's chain. With a loss (mse,
cross-entropy) dy itself is derived first, from the loss's definition
(:mod:`symconv.engine.loss`), and the chain starts from it.

>>> from symconv.spec.conv import conv_spec
>>> d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
>>> d.gradients["dx"][(0, 0, 1)]
dy[0, 0, 0]*w[0, 0, 1] + dy[0, 0, 1]*w[0, 0, 0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from symconv.engine.differentiate import differentiate, differentiate_terms
from symconv.errors import SymconvError
from symconv.layers import rule_for
from symconv.spec.loss import LossSpec, loss_spec
from symconv.spec.size import DEFAULT_MAX_TERMS, check_size
from symconv.spec.stack import TARGET, tensor_names
from symconv.symbolic.channels import ChannelGraph
from symconv.symbolic.terms import TermTable

METHODS = ("terms", "structural", "sympy")
#: A lone layer's tensor names (a stack's are numbered, see :func:`symconv.spec.stack.tensor_names`).
LAYER_NAMES = {"x": "x", "y": "y", "w": "w", "b": "b"}


@dataclass(frozen=True)
class Derivation:
    """A layer, its forward and the gradients derived from it.

    ``forward`` and each ``gradients[name]`` map an index to a SymPy
    expression (a :class:`~symconv.symbolic.terms.TermTable` or a dict).
    ``shapes`` names every tensor involved (``None`` for an absent bias);
    ``reduction`` is ``"sum"`` or ``"mean"``: for the sum loss ``L = sum dy*y``
    (dy given) the mean divides by the batch N. With a derived loss,
    ``loss`` is its :class:`~symconv.spec.loss.LossSpec` and ``dy`` the table
    of dL/dy derived from it, in terms of y and the target t (both None for
    the sum loss).
    ``intermediates`` holds, in forward order, the tables of the named
    quantities the forward computes before y (a batch norm's mu, var, xhat);
    most layers have none.
    """

    spec: object
    forward: dict = field(repr=False)
    gradients: dict = field(repr=False)
    shapes: dict = field(repr=False)
    reduction: str = "sum"
    intermediates: dict = field(default_factory=dict, repr=False)
    loss: object = field(default=None, repr=False)
    dy: dict | None = field(default=None, repr=False)

    #: Printers and verifiers show a stack's chain; a single layer has none.
    is_stack = False


@dataclass(frozen=True)
class StackDerivation:
    """Each layer's forward and gradients, with per-layer tensor names.

    ``names[k]``, ``forward[k]``, ``gradients[k]`` and ``intermediates[k]``
    are layer k's (0-based); ``shapes`` names every tensor of the stack;
    ``loss`` and ``dy`` as in :class:`Derivation`.
    """

    spec: object
    names: list = field(repr=False)
    forward: list = field(repr=False)
    gradients: list = field(repr=False)
    shapes: dict = field(repr=False)
    reduction: str = "sum"
    intermediates: list = field(default=None, repr=False)
    loss: object = field(default=None, repr=False)
    dy: dict | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.intermediates is None:  # a stack of layers without intermediates
            object.__setattr__(self, "intermediates", [{} for _ in self.forward])

    is_stack = True


def _scaled(table, factor: Fraction):
    """A gradient table times a number (the mean reduction's 1/N).

    A TermTable multiplies its terms' constants (the same expressions as
    ``Mul(factor, expr)``, which SymPy distributes over a sum); a dict of
    SymPy expressions gets ``Mul``.
    """
    if isinstance(table, TermTable):
        return table.scaled(factor)
    from sympy import Mul, Rational

    return {index: Mul(Rational(factor.numerator, factor.denominator), expr) for index, expr in table.items()}


def derive_layer(spec, names=LAYER_NAMES, method: str = "terms", scale=1):
    """``(forward, gradients, tensors, intermediates)`` of one layer, its tensors named by ``names``.

    A forward held as a TermTable is differentiated by the vectorized
    product rule (``method="terms"``) or, as SymPy expressions, one output
    at a time (``"structural"`` / ``"sympy"``, slow; kept to prove the fast
    path); other forwards always one output at a time, and a
    :class:`~symconv.symbolic.channels.ChannelGraph` (batch norm) step by
    step (:func:`symconv.engine.channels.derive_channels`). ``tensors``
    gives every tensor's shape (``None`` for an absent bias), the
    intermediates' included; ``scale`` multiplies every gradient (the mean
    reduction's 1/N).
    """
    rule = rule_for(spec)
    upstream = "d" + names["y"]
    forward = rule.forward(spec, {**names, "dy": upstream})
    tensors = rule.tensors(spec, names)
    if isinstance(forward, ChannelGraph):
        from sympy import Rational

        from symconv.engine.channels import derive_channels  # SymPy's: loaded for a batch norm only

        # The upstream gradient is scaled before the chain: dx reads dw and db, already scaled.
        scale = Fraction(scale)
        forward, intermediates, gradients, shapes = derive_channels(forward, Rational(scale.numerator,
                                                                                       scale.denominator))
        return forward, gradients, {**tensors, **shapes}, intermediates
    wrt = {name: shape for name, shape in tensors.items() if shape is not None}
    if isinstance(forward, TermTable) and method == "terms":
        gradients = differentiate_terms(forward, list(wrt), upstream)
    else:
        if isinstance(forward, TermTable):
            forward = dict(forward.items())
        one_at_a_time = "structural" if method == "terms" else method
        gradients = differentiate(forward, wrt, upstream=upstream, method=one_at_a_time)
    if scale != 1:
        gradients = {name: _scaled(table, Fraction(scale)) for name, table in gradients.items()}
    return forward, gradients, tensors, {}


def derive(spec, method: str = "terms", max_terms: int | None = DEFAULT_MAX_TERMS, reduction: str | None = None,
           loss="sum"):
    """Build the forward of ``spec`` (a layer or a stack) and differentiate it into its gradients.

    A convolution gives dx, dw (and db); a pooling or activation layer dx; a
    stack every tensor, layer by layer, the last layer's upstream being dy.
    ``loss`` is ``"sum"`` (``L = sum(dy*y)``, dy given), ``"mse"`` or
    ``"cross_entropy"`` (or a :class:`~symconv.spec.loss.LossSpec`): with the
    latter two, dy = dL/dy is derived from the loss against a target t.
    ``reduction`` (``None``: PyTorch's default, ``mean`` for mse and
    cross-entropy, ``sum`` for the sum loss) says what ``mean`` means for the
    loss: for the sum loss, the last layer's gradients carry 1/N and the
    layers below inherit it through their upstream gradients; for a derived
    loss, dy carries it. ``max_terms=None`` skips the size guard, for a
    caller that has run it (:func:`symconv.spec.size.check_size`) before
    importing SymPy.
    """
    if method not in METHODS:
        raise SymconvError(f"method: got {method!r}, expected one of {', '.join(METHODS)}")
    if isinstance(loss, LossSpec):
        if reduction not in (None, loss.reduction) or loss.output != tuple(spec.output_shape):
            raise SymconvError(f"loss: got {loss.kind} with reduction {loss.reduction} for y of shape "
                               f"{loss.output}, expected y of shape {tuple(spec.output_shape)} and reduction "
                               f"{reduction or loss.reduction}")
    else:
        loss = loss_spec(loss, reduction, spec.output_shape)
    reduction = loss.reduction
    if max_terms is not None:
        check_size(spec, max_terms, loss)
    layers, names = (spec.layers, tensor_names(spec)) if spec.is_stack else ((spec,), [LAYER_NAMES])
    forwards, gradients, intermediates, shapes = [], [], [], {names[0]["x"]: spec.input}
    mean = Fraction(1, spec.input[0]) if reduction == "mean" and not loss.derives else 1  # a derived loss: dy carries it
    for position, (layer, name) in enumerate(zip(layers, names)):
        scale = mean if position == len(layers) - 1 else 1
        forward, grads, tensors, steps = derive_layer(layer, name, method, scale)
        shapes.update(tensors)
        shapes[name["y"]] = layer.output_shape
        forwards.append(forward)
        gradients.append(grads)
        intermediates.append(steps)
    dy = None
    if loss.derives:
        from symconv.engine.loss import derive_loss  # SymPy's: loaded for a derived loss only

        shapes[TARGET] = loss.target_shape
        dy = derive_loss(loss)
    derived = loss if loss.derives else None
    if spec.is_stack:
        return StackDerivation(spec, names, forwards, gradients, shapes, reduction, intermediates, derived, dy)
    return Derivation(spec, forwards[0], gradients[0], shapes, reduction, intermediates[0], derived, dy)


def derive_stack(spec, max_terms: int = DEFAULT_MAX_TERMS, reduction: str | None = None,
                 loss="sum") -> StackDerivation:
    """:func:`derive` for a stack spec (the name reads better where only stacks are meant)."""
    return derive(spec, max_terms=max_terms, reduction=reduction, loss=loss)
