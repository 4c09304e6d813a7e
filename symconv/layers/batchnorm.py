r"""Batch normalization in training mode: its definition as a channel graph, reference, and words.

The forward is defined for one element of one channel, in four steps
(:class:`~symconv.symbolic.channels.ChannelGraph`):

.. math::  \mu_c = \operatorname{mean}(x), \quad
           \sigma^2_c = \operatorname{mean}((x - \mu_c)^2), \quad
           \hat{x} = \frac{x - \mu_c}{\sqrt{\sigma^2_c + \epsilon}}, \quad
           y = w_c \hat{x} + b_c,

the means over the channel's M = N * (spatial size) values, the variance
biased (divided by M), as PyTorch computes them in training. The engine
(:mod:`symconv.engine.channels`) derives dw, db and dx from these steps.

>>> from symconv.spec.norm import batchnorm_spec
>>> graph = batchnorm_graph(batchnorm_spec("batchnorm1d", (2, 3)))
>>> [(step.role, step.mean) for step in graph.steps]
[('mu', True), ('var', True), ('xhat', False), ('y', False)]
"""

from __future__ import annotations

import numpy as np

from symconv.layers.batchnorm_check import CHECK
from symconv.layers.rule import CONSTANT, LayerRule, fresh_origins, intermediate_names
from symconv.names import NORM_KINDS
from symconv.symbolic.channels import ChannelGraph, ChannelStep

#: The intermediate steps, as the tables and documents name them (before a stack's layer number).
STEPS = ("mu", "var", "xhat")

DEFAULT_NAMES = {"x": "x", "y": "y", "w": "w", "b": "b", "dy": "dy"}


def batchnorm_graph(spec, names=DEFAULT_NAMES) -> ChannelGraph:
    """The four steps of a batch norm's forward, its tensors named by ``names`` (and the steps' own)."""
    from sympy import Rational, sqrt  # here: the rule table loads with every command, SymPy only for a batch norm

    roles = {**{role: names[role] for role in ("x", "y", "w", "b", "dy")}, **intermediate_names(names, STEPS)}
    roles.update({"dw": "d" + names["w"], "db": "d" + names["b"]})
    graph = ChannelGraph.build(spec.input, roles, [], per_channel=("w", "b", "mu", "var"), parameters=("w", "b"))
    x, w, b, mu, var, xhat = (graph.symbols[r] for r in ("x", "w", "b", "mu", "var", "xhat"))
    eps = Rational(spec.eps.numerator, spec.eps.denominator)
    return graph.with_steps([
        ChannelStep("mu", True, x),
        ChannelStep("var", True, (x - mu) ** 2),
        ChannelStep("xhat", False, (x - mu) / sqrt(var + eps)),
        ChannelStep("y", False, w * xhat + b),
    ])


def _tensors(spec, names) -> dict:
    return {names["x"]: spec.input, names["w"]: spec.weight, names["b"]: spec.bias_shape}


def _reference(spec, names, scale):
    from symconv.reference.batchnorm import batchnorm_backward, batchnorm_forward  # loaded when a check needs them

    x, w, b, y, up = names["x"], names["w"], names["b"], names["y"], "d" + names["y"]
    steps = intermediate_names(names, STEPS)

    def forward(values):
        out = batchnorm_forward(values[x], values[w], values[b], spec.eps)
        return {steps["mu"]: out["mean"], steps["var"]: out["var"], steps["xhat"]: out["xhat"], y: out["y"]}

    def backward(values):
        dx, dw, db = batchnorm_backward(values[up], values[x], values[w], spec.eps)
        return {"d" + w: dw * float(scale), "d" + b: db * float(scale), "d" + x: dx * float(scale)}

    return forward, backward


def _details(spec) -> list[str]:
    return [f"eps {spec.eps.numerator}/{spec.eps.denominator}", "training mode"]


def _chain(spec, tex):
    x, w, b, up = tex["x"], tex["w"], tex["b"], tex["dy"]
    number = w[1:]  # w^{(3)} -> ^{(3)}
    xhat, var = r"\hat{x}" + number, (r"{\sigma%s}^{2}" % number) if number else r"\sigma^{2}"
    return [
        (r"\partial " + w, r"\textstyle\sum %s \odot %s" % (up, xhat)),
        (r"\partial " + b, r"\textstyle\sum %s" % up),
        (r"\partial " + x, r"\frac{%s}{\sqrt{%s + \epsilon}} \odot \left(%s - \overline{%s} - %s \odot "
                           r"\overline{%s \odot %s}\right)" % (w, var, up, up, xhat, up, xhat)),
    ]


def _notes(spec, names):
    m, eps = spec.per_channel, f"{spec.eps.numerator}/{spec.eps.denominator}"
    plain = (f"batch norm: M = {m} values per channel (N times the spatial size), eps = {eps}; "
             "mu, var = the channel's mean and biased variance, xhat = (x - mu)/sqrt(var + eps). "
             "dx is the compact form w/sqrt(var + eps)*(dy - db/M - xhat*dw/M), db/M being the mean of dy "
             "over the channel and dw/M the mean of dy*xhat; it equals the element-wise chain rule "
             "dx_i = sum_j dy_j * (partial y_j / partial x_i), with partial y_j / partial x_i = "
             "w/sqrt(var + eps)*([i = j] - 1/M - xhat_i*xhat_j/M), since sum_j dy_j = db and sum_j dy_j*xhat_j = dw.")
    tex = (rf"Batch norm: $M = {m}$ values per channel ($N$ times the spatial size), "
           rf"$\epsilon = {spec.eps.numerator}/{spec.eps.denominator}$; $\mu$ and $\sigma^2$ are the channel's mean "
           r"and biased variance, $\hat{x} = (x - \mu)/\sqrt{\sigma^2 + \epsilon}$. The gradient with respect to "
           r"$x$ is the compact form $\frac{w_c}{\sqrt{\sigma^2_c + \epsilon}}\left(dy_i - \frac{db_c}{M} - "
           r"\hat{x}_i \frac{dw_c}{M}\right)$, where $db_c/M$ is the mean of $dy$ over the channel and $dw_c/M$ "
           r"the mean of $dy\,\hat{x}$. It equals the element-wise chain rule "
           r"$\frac{\partial L}{\partial x_i} = \sum_j dy_j \frac{\partial y_j}{\partial x_i}$ with "
           r"$\frac{\partial y_j}{\partial x_i} = \frac{w_c}{\sqrt{\sigma^2_c + \epsilon}}\left([i = j] - "
           r"\frac{1}{M} - \frac{\hat{x}_i \hat{x}_j}{M}\right)$, since $\sum_j dy_j = db_c$ and "
           r"$\sum_j dy_j \hat{x}_j = dw_c$.")
    return [(plain, tex)]


def _kinks(spec, x, origin):
    """No kink. Each channel's outputs are one function of its inputs (w_c (x - mean_c) / s_c + b_c, the
    statistics moving with every input), so copies of one value in one channel stay copies, labelled
    by origin and channel; the rest, constant inputs included (they move with the statistics), are new."""
    channels = spec.input[1]
    channel = np.arange(channels).reshape((1, -1) + (1,) * (len(spec.input) - 2))
    copies = origin * channels + channel
    fresh = copies.max(initial=-1) + 1 + fresh_origins(spec.output_shape)
    return None, np.where(origin == CONSTANT, fresh, copies)


RULE = LayerRule(
    kinds=tuple(NORM_KINDS),
    forward=batchnorm_graph,
    tensors=_tensors,
    reference=_reference,
    smooth=True,
    details=_details,
    chain=_chain,
    kinks=_kinks,
    check=CHECK,
    rational=False,
    curved=True,
    cancels=True,
    titles={"mu": "Mean of each channel over the batch", "var": "Biased variance of each channel",
            "xhat": "Normalized input"},
    notes=_notes,
)
