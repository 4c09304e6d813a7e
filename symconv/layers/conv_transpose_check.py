"""Transposed convolution's part of ``symconv check``: how a user's backward is called, its mistakes, the edge suite.

Its dx is a plain convolution of dy with w, so the classic mistakes are
those of a convolution's forward, each the reference backward run on
altered inputs or options:

* ``kernel-flipped``: w rotated by 180 degrees, as a convolution's dx needs
  but a transposed convolution's does not (the right dx of ``w[..., ::-1]``);
* ``stride-ignored`` / ``dilation-ignored``: input i reads dy from ``i + kD``
  (``iS + k``), the gradient of the layer at stride (dilation) 1 with dy
  cut to its smaller output;
* ``padding-offset``: dy read from position 0 instead of P, the gradient
  of the layer without padding, dy in the corner of its larger output;
* ``groups-ignored``: every input channel reads the first group's outputs.

>>> from symconv.spec.conv_transpose import conv_transpose_spec
>>> spec = conv_transpose_spec("conv_transpose1d", (1, 1, 2), (1, 1, 2))
>>> mistakes = {m.name: m for m in CHECK.mistakes(spec)}
>>> values = {"x": np.array([[[1.0, 2.0]]]), "w": np.array([[[1.0, 10.0]]]), "dy": np.array([[[1.0, 0.0, 0.0]]])}
>>> mistakes["kernel-flipped"].variants[0](values)["dx"].tolist()
[[[10.0, 0.0]]]
"""

from __future__ import annotations

import numpy as np

from symconv.errors import SymconvError
from symconv.layers.checking import CheckRule, Mistake, crop, embed, no_cs231n
from symconv.spec.conv_transpose import conv_transpose_spec


def _options(spec, **changes):
    options = dict(stride=spec.stride, padding=spec.padding, output_padding=spec.output_padding,
                   dilation=spec.dilation, groups=spec.groups)
    options.update(changes)
    return options


def _config(spec) -> dict:
    config = {"input": spec.input, "weight": spec.weight, "stride": spec.stride, "padding": spec.padding,
              "output_padding": spec.output_padding, "dilation": spec.dilation, "groups": spec.groups}
    if not spec.bias:
        config["no_bias"] = True
    return config


def _keywords(spec) -> dict:
    """The user's ``fn(dy, x, w, b, **opts)`` and PyTorch's ``conv_transpose2d`` take the same names."""
    return _options(spec)


def _gradients(dy, x, w, **options):
    from symconv.reference.conv_transpose import conv_transpose_backward  # loaded when a check runs

    dx, dw, db = conv_transpose_backward(dy, x, w, **options)
    return {"dx": dx, "dw": dw, "db": db}


def _flipped(spec):
    def wrong(v):
        flipped = v["w"][(Ellipsis,) + (slice(None, None, -1),) * spec.ndim]
        return {"dx": _gradients(v["dy"], v["x"], flipped, **_options(spec))["dx"]}
    return wrong


def _changed(spec, **changes):
    """The layer with ``changes``, its output_padding lowered where it would no longer be allowed."""
    options = _options(spec, **changes)
    options["output_padding"] = tuple(min(op, max(s, d) - 1) for op, s, d in
                                      zip(options["output_padding"], options["stride"], options["dilation"]))
    try:
        return conv_transpose_spec(spec.kind, spec.input, spec.weight, bias=spec.bias, **options)
    except SymconvError:
        return None


def _read_as(changed, how):
    """dy read as the ``changed`` layer reads it: cut to its output, or in the corner of it."""
    def wrong(v):
        if changed is None:
            return {}
        dy = how(v["dy"], changed.output_shape)
        grads = _gradients(dy, v["x"], v["w"], **_options(changed))
        return {"dx": grads["dx"], "dw": grads["dw"]}
    return wrong


def _fit(dy, shape):
    """``dy`` cut or zero-extended to ``shape``, from the top-left corner."""
    return embed(crop(dy, tuple(min(a, b) for a, b in zip(dy.shape, shape))), shape)


def _groups_ignored(spec):
    groups, per_group = spec.groups, spec.weight[1]

    def wrong(v):
        first = np.concatenate([v["dy"][:, :per_group]] * groups, axis=1)
        grads = _gradients(first, v["x"], v["w"], **_options(spec))
        return {"dx": grads["dx"], "dw": grads["dw"]}
    return wrong


def _mistakes(spec):
    ones = (1,) * spec.ndim
    return (
        Mistake("kernel-flipped", "dx correlates dy with w rotated by 180 degrees: a transposed convolution's "
                "dx is the plain convolution of dy with w itself", (_flipped(spec),)),
        Mistake("stride-ignored", "input i reads dy at i + k*dilation: it must read it at i*stride + "
                "k*dilation - padding", (_read_as(_changed(spec, stride=ones), _fit),)),
        Mistake("dilation-ignored", "the kernel taps are read next to each other: tap k must read dy at "
                "k*dilation", (_read_as(_changed(spec, dilation=ones), _fit),)),
        Mistake("padding-offset", "dy is read from position 0: the cropped output starts at the padding, "
                "so input i reads dy at i*stride + k*dilation - padding",
                (_read_as(_changed(spec, padding=(0,) * spec.ndim), _fit),)),
        Mistake("groups-ignored", "every input channel reads the first group's outputs: channel c must "
                "read the outputs of its own group", (_groups_ignored(spec),)),
    )


def _case(name, input, weight, **options):
    return name, {"input": input, "weight": weight, **options}


def _edge_cases_2d():
    """(name, config) of the 2-D edge suite; the 1-D suite is their last axis, the 3-D one adds a depth axis."""
    return [
        _case("1x1 kernel", (2, 3, 4, 4), (3, 2, 1, 1)),
        _case("1x1 kernel, stride 2", (1, 2, 3, 3), (2, 3, 1, 1), stride=2),
        _case("1x1 kernel, stride 2, output_padding 1", (1, 1, 3, 3), (1, 2, 1, 1), stride=2, output_padding=1),
        _case("kernel = stride, no overlap", (1, 1, 3, 3), (1, 1, 2, 2), stride=2),
        _case("kernel 4, stride 2, padding 1 (doubles)", (2, 2, 4, 4), (2, 2, 4, 4), stride=2, padding=1),
        _case("kernel 3, stride 2, padding 1, output_padding 1", (1, 2, 3, 3), (2, 2, 3, 3), stride=2, padding=1,
              output_padding=1),
        _case("kernel 3, stride 2", (1, 1, 3, 3), (1, 2, 3, 3), stride=2),
        _case("stride 3, kernel 2, gaps", (1, 1, 3, 3), (1, 1, 2, 2), stride=3),
        _case("stride 3, output_padding 2", (1, 1, 2, 2), (1, 1, 2, 2), stride=3, output_padding=2),
        _case("stride 2,1", (1, 2, 3, 4), (2, 2, 3, 2), stride=(2, 1)),
        _case("stride 1,3, output_padding 0,2", (1, 1, 3, 3), (1, 1, 2, 2), stride=(1, 3), output_padding=(0, 2)),
        _case("stride 4, kernel 2", (1, 1, 2, 3), (1, 1, 2, 2), stride=4),
        _case("padding 1", (2, 2, 4, 4), (2, 3, 3, 3), padding=1),
        _case("padding 2, kernel 3 (crops to less than the input)", (1, 1, 5, 5), (1, 1, 3, 3), padding=2),
        _case("padding 1,0", (1, 1, 4, 4), (1, 1, 3, 3), padding=(1, 0)),
        _case("padding wider than the kernel, stride 3", (1, 1, 4, 4), (1, 1, 2, 2), stride=3, padding=2),
        _case("output_padding beyond the padding", (1, 1, 3, 3), (1, 1, 2, 2), stride=3, padding=0, output_padding=1),
        _case("dilation 2", (1, 2, 4, 4), (2, 2, 3, 3), dilation=2),
        _case("dilation 2, output_padding 1 (allowed by dilation)", (1, 1, 3, 3), (1, 1, 2, 2), dilation=2,
              output_padding=1),
        _case("dilation 1,3", (1, 1, 3, 4), (1, 1, 2, 3), dilation=(1, 3)),
        _case("dilation 2, stride 2, padding 2", (1, 2, 4, 4), (2, 2, 3, 3), stride=2, padding=2, dilation=2),
        _case("dilation 3, stride 2, output_padding 2", (1, 1, 3, 3), (1, 1, 2, 2), stride=2, dilation=3,
              output_padding=2),
        _case("groups 2", (2, 4, 3, 3), (4, 2, 3, 3), groups=2),
        _case("depthwise", (1, 3, 4, 4), (3, 1, 3, 3), groups=3),
        _case("depthwise, multiplier 2", (1, 2, 3, 3), (2, 2, 2, 2), groups=2),
        _case("groups 2, stride 2, padding 1, output_padding 1", (1, 4, 3, 3), (4, 1, 3, 3), stride=2, padding=1,
              output_padding=1, groups=2),
        _case("groups 3, dilation 2, stride 3", (1, 3, 3, 3), (3, 1, 2, 2), stride=3, dilation=2, groups=3),
        _case("no bias", (2, 2, 3, 3), (2, 3, 3, 3), stride=2, no_bias=True),
        _case("batch 4, one channel", (4, 1, 3, 3), (1, 1, 2, 2)),
        _case("8 input channels, one output", (1, 8, 2, 2), (8, 1, 2, 2), stride=2),
        _case("one input channel, 6 outputs", (1, 1, 3, 3), (1, 6, 2, 2)),
        _case("rectangular input, kernel 1,3", (1, 1, 2, 5), (1, 2, 1, 3)),
        _case("kernel 3,1, stride 1,2", (1, 2, 4, 3), (2, 2, 3, 1), stride=(1, 2)),
        _case("1x1 input", (3, 2, 1, 1), (2, 2, 3, 3)),
        _case("1x1 input, padding 1", (1, 1, 1, 1), (1, 1, 3, 3), padding=1),
        _case("output of one entry", (1, 1, 2, 2), (1, 1, 2, 2), padding=1),
        _case("kernel 5, stride 2, padding 2, output_padding 1", (1, 1, 3, 3), (1, 1, 5, 5), stride=2, padding=2,
              output_padding=1),
    ]


def _axis(config, pick):
    """The configuration with its spatial values chosen by ``pick`` (per-axis tuples -> new tuples)."""
    out = {}
    for name, value in config.items():
        if name in ("input", "weight"):
            out[name] = value[:2] + pick(value[2:])
        elif isinstance(value, tuple):
            out[name] = pick(value)
        else:
            out[name] = value
    return out


def _edge_cases(kind):
    cases = _edge_cases_2d()
    if kind == "conv_transpose2d":
        return cases
    # 1-D: the last axis; 3-D: the first axis repeated as the depth.
    pick = (lambda v: v[1:]) if kind == "conv_transpose1d" else (lambda v: v[:1] + v)
    seen, chosen = set(), []
    for name, config in cases:
        changed = _axis(config, pick)
        key = repr(sorted(changed.items()))
        if key not in seen:
            seen.add(key)
            chosen.append((name, changed))
    return chosen


CHECK = CheckRule(
    config=_config,
    keywords=_keywords,
    torch_keywords=_keywords,
    cs231n=lambda spec: no_cs231n(spec.kind, "cs231n's assignments have no transposed convolution"),
    mistakes=_mistakes,
    edge_cases=_edge_cases,
    partners={"dx": "w", "dw": "x"},
)
