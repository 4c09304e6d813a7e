"""Convolution's part of ``symconv check``: how a user's backward is called, its classic mistakes, the edge suite.

Every mistake is the reference backward run on altered inputs or options:

* ``kernel-not-flipped``: dx from w itself where the rotated kernel belongs,
  which is the right dx of ``w[..., ::-1, ::-1]``;
* ``stride-ignored`` / ``dilation-ignored``: the windows (taps) at stride
  (dilation) 1, with dy in the top-left corner of the larger output;
* ``padding-offset``: the padded input's gradient cropped at 0, not at the
  padding, which is the right gradient of a layer padded only after;
* ``groups-ignored``: every filter reads the first group's channels;
* ``padding-mode-ignored`` (a layer with a ``padding_mode`` other than
  zeros): the right gradient of the same layer padded with zeros.

>>> from symconv.spec.conv import conv_spec
>>> spec = conv_spec("conv1d", (1, 1, 3), (1, 1, 2))
>>> mistakes = {m.name: m for m in CHECK.mistakes(spec)}
>>> values = {"x": np.array([[[1.0, 2.0, 3.0]]]), "w": np.array([[[1.0, 10.0]]]), "dy": np.array([[[1.0, 0.0]]])}
>>> mistakes["kernel-not-flipped"].variants[0](values)["dx"].tolist()
[[[10.0, 1.0, 0.0]]]
"""

from __future__ import annotations

import numpy as np

from symconv.errors import SymconvError
from symconv.layers.checking import CheckRule, Mistake, embed
from symconv.spec.conv import conv_spec


def _options(spec, **changes):
    options = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups,
                   padding_mode=spec.padding_mode)
    options.update(changes)
    return options


def _with_mode(spec, keywords: dict) -> dict:
    """A user's function is told the padding mode only when it is not zeros (PyTorch's functional
    convolutions have no padding_mode: a layer padded with zeros calls them unchanged)."""
    return keywords if spec.padding_mode == "zeros" else {**keywords, "padding_mode": spec.padding_mode}


def _config(spec) -> dict:
    config = {"input": spec.input, "weight": spec.weight, "stride": spec.stride,
              "padding": "same" if spec.padding_string == "same" else spec.padding,
              "dilation": spec.dilation, "groups": spec.groups}
    if spec.padding_mode != "zeros":
        config["padding_mode"] = spec.padding_mode
    if not spec.bias:
        config["no_bias"] = True
    return config


def _symmetric(spec):
    """The padding as one int per axis, or None if an axis pads its two sides differently."""
    if all(lo == hi for lo, hi in spec.padding):
        return tuple(lo for lo, _ in spec.padding)
    return None


def _keywords(spec) -> dict:
    padding = _symmetric(spec) or spec.padding
    return _with_mode(spec, {"stride": spec.stride, "padding": padding, "dilation": spec.dilation,
                             "groups": spec.groups})


def _torch_keywords(spec) -> dict:
    padding = _symmetric(spec)
    if padding is None:
        if spec.padding_string != "same":
            raise SymconvError(
                f"padding: got {[list(p) for p in spec.padding]} with --convention torch, expected the same "
                f"padding on both sides of each axis, or 'same' (PyTorch's convolutions take one per axis)"
            )
        padding = "same"
    return _with_mode(spec, {"stride": spec.stride, "padding": padding, "dilation": spec.dilation,
                             "groups": spec.groups})


def _cs231n(spec) -> dict:
    problems = []
    if spec.ndim != 2:
        problems.append(f"conv2d (got {spec.kind})")
    if len(set(spec.stride)) != 1:
        problems.append(f"one stride for both axes (got {list(spec.stride)})")
    if len({p for pair in spec.padding for p in pair}) != 1:
        problems.append(f"one padding for every side (got {[list(p) for p in spec.padding]})")
    if any(d != 1 for d in spec.dilation):
        problems.append("no dilation")
    if spec.groups != 1:
        problems.append("no groups")
    if spec.padding_mode != "zeros":
        problems.append(f"zero padding (got padding_mode {spec.padding_mode})")
    if not spec.bias:
        problems.append("a bias")
    if problems:
        raise SymconvError(f"convention: got 'cs231n' for this layer, expected {', '.join(problems)} "
                           f"(cs231n's conv_param holds only stride and pad)")
    return {"stride": spec.stride[0], "pad": spec.padding[0][0]}


def _gradients(dy, x, w, **options):
    from symconv.reference.conv import conv_backward  # the kernels load when a check runs, not with the rules

    dx, dw, db = conv_backward(dy, x, w, **options)
    return {"dx": dx, "dw": dw, "db": db}


def _not_flipped(spec):
    def wrong(v):
        flipped = v["w"][(Ellipsis,) + (slice(None, None, -1),) * spec.ndim]
        return {"dx": _gradients(v["dy"], v["x"], flipped, **_options(spec))["dx"]}
    return wrong


def _at_one(spec, name):
    """Windows at stride 1, or taps at dilation 1: dy in the corner of the larger output."""
    ones = (1,) * spec.ndim
    changed = conv_spec(spec.kind, spec.input, spec.weight, **{**_options(spec), name: ones},
                        bias=spec.bias)

    def wrong(v):
        grads = _gradients(embed(v["dy"], changed.output_shape), v["x"], v["w"], **_options(changed))
        return {"dx": grads["dx"], "dw": grads["dw"]}
    return wrong


def _padding_offset(spec):
    """The zero-padded input's gradient cropped from 0; a padding mode folds instead, so no such crop."""
    after = tuple((0, lo + hi) for lo, hi in spec.padding)

    def wrong(v):
        grads = _gradients(v["dy"], v["x"], v["w"], **_options(spec, padding=after))
        return {"dx": grads["dx"], "dw": grads["dw"]}
    return wrong


def _groups_ignored(spec):
    groups, per_group = spec.groups, spec.weight[1]

    def wrong(v):
        dx = _gradients(v["dy"], v["x"], v["w"], **_options(spec))["dx"]
        folded = np.zeros_like(dx)
        folded[:, :per_group] = dx.reshape(dx.shape[0], groups, per_group, *dx.shape[2:]).sum(axis=1)
        first = np.concatenate([v["x"][:, :per_group]] * groups, axis=1)
        return {"dx": folded, "dw": _gradients(v["dy"], first, v["w"], **_options(spec))["dw"]}
    return wrong


def _mode_ignored(spec):
    def wrong(v):
        grads = _gradients(v["dy"], v["x"], v["w"], **_options(spec, padding_mode="zeros"))
        return {"dx": grads["dx"], "dw": grads["dw"]}
    return wrong


def _mistakes(spec):
    zeros = spec.padding_mode == "zeros"
    return (
        Mistake("kernel-not-flipped", "dx correlates dy with w itself: the kernel must be rotated by 180 "
                "degrees (flipped along every spatial axis)", (_not_flipped(spec),)),
        Mistake("stride-ignored", "the windows are placed at stride 1: output position i must read the "
                "input from i*stride", (_at_one(spec, "stride"),)),
        Mistake("dilation-ignored", "the kernel taps are read next to each other: tap k must read the "
                "input at k*dilation", (_at_one(spec, "dilation"),)),
        Mistake("padding-offset", "the padded input's gradient is cropped from 0: it must be cropped "
                "from the padding (dx = dx_pad[P:P+H])", (_padding_offset(spec),) if zeros else ()),
        Mistake("groups-ignored", "every filter reads the first group's channels: filter f must read "
                "the channels of its own group", (_groups_ignored(spec),)),
    ) + (() if zeros else (
        Mistake("padding-mode-ignored", f"the padding holds zeros: with padding_mode {spec.padding_mode} it "
                "holds x's own entries, whose gradient must be added back onto them", (_mode_ignored(spec),)),
    ))


def _edge_cases_2d():
    """(name, config) of the 2-D edge suite; the 1-D suite is their last axis, the 3-D one
    adds a copy of their first axis in front."""
    def case(name, input, weight, **options):
        return name, {"input": input, "weight": weight, **options}
    return [
        case("1x1 kernel", (2, 3, 5, 5), (4, 3, 1, 1)),
        case("1x1 kernel, stride 2", (1, 2, 5, 5), (3, 2, 1, 1), stride=2),
        case("kernel = input", (2, 2, 4, 4), (3, 2, 4, 4)),
        case("kernel = input, padding 1", (1, 2, 3, 3), (2, 2, 3, 3), padding=1),
        case("stride = kernel, output 2x2", (1, 1, 6, 6), (1, 1, 3, 3), stride=3),
        case("stride > kernel, skipped inputs", (1, 1, 7, 7), (2, 1, 2, 2), stride=3),
        case("stride 2, last column unread", (2, 2, 6, 6), (2, 2, 3, 3), stride=2),
        case("stride 2,1", (1, 2, 6, 5), (2, 2, 3, 2), stride=(2, 1)),
        case("stride 4, kernel 2", (1, 1, 9, 9), (1, 1, 2, 2), stride=4),
        case("stride 2, padding 1, kernel 3", (2, 3, 7, 7), (4, 3, 3, 3), stride=2, padding=1),
        case("stride 3, padding 1", (1, 2, 8, 8), (2, 2, 3, 3), stride=3, padding=1),
        case("stride 2, kernel 4, padding 1", (1, 1, 8, 8), (2, 1, 4, 4), stride=2, padding=1),
        case("dilation 2", (1, 2, 7, 7), (2, 2, 3, 3), dilation=2),
        case("dilation 1,3", (1, 1, 5, 8), (1, 1, 2, 3), dilation=(1, 3)),
        case("dilation 3, kernel 2", (2, 1, 7, 7), (1, 1, 2, 2), dilation=3),
        case("dilation 2, stride 2, padding 2", (1, 2, 9, 9), (2, 2, 3, 3), stride=2, padding=2, dilation=2),
        case("groups 2", (2, 4, 5, 5), (4, 2, 3, 3), groups=2),
        case("depthwise", (1, 3, 5, 5), (3, 1, 3, 3), groups=3),
        case("depthwise, multiplier 2", (2, 2, 5, 5), (4, 1, 3, 3), groups=2),
        case("groups 2, stride 2, padding 1", (1, 4, 7, 7), (2, 2, 3, 3), stride=2, padding=1, groups=2),
        case("depthwise, same padding", (1, 2, 5, 5), (2, 1, 3, 3), padding="same", groups=2),
        case("groups 3, dilation 2, stride 3", (1, 3, 9, 9), (3, 1, 2, 2), stride=3, dilation=2, groups=3),
        case("same padding, kernel 3", (2, 2, 5, 5), (3, 2, 3, 3), padding="same"),
        case("same padding, kernel 2 (asymmetric)", (1, 1, 5, 5), (2, 1, 2, 2), padding="same"),
        case("same padding, kernel 4, dilation 2", (1, 1, 8, 8), (1, 1, 4, 4), padding="same", dilation=2),
        case("same padding, kernel 2,3", (1, 2, 4, 6), (2, 2, 2, 3), padding="same"),
        case("same padding, kernel 5 = input", (1, 1, 5, 5), (1, 1, 5, 5), padding="same"),
        case("padding wider than the kernel", (1, 1, 3, 3), (1, 1, 2, 2), padding=3),
        case("padding 2,0", (1, 1, 4, 4), (1, 1, 3, 3), padding=(2, 0)),
        case("no bias", (2, 2, 5, 5), (3, 2, 3, 3), stride=2, no_bias=True),
        case("batch 4, one filter", (4, 1, 4, 4), (1, 1, 2, 2)),
        case("8 channels, one 1x1 filter", (1, 8, 3, 3), (1, 8, 1, 1)),
        case("rectangular input, kernel 1,3", (1, 1, 3, 8), (2, 1, 1, 3)),
        case("kernel 3,1", (1, 2, 6, 4), (2, 2, 3, 1), stride=(1, 2)),
        case("one output", (2, 2, 3, 3), (1, 2, 3, 3)),
        case("1x1 input", (3, 2, 1, 1), (2, 2, 1, 1)),
        case("valid padding, stride 2, dilation 2", (1, 1, 9, 9), (1, 1, 3, 3), stride=2, dilation=2),
    ]


def _last_axis(config):
    """The 1-D case of a 2-D configuration: its last axis."""
    one = {}
    for name, value in config.items():
        if name in ("input", "weight"):
            one[name] = value[:2] + value[3:]
        elif name == "padding" and isinstance(value, tuple):
            one[name] = value[1]
        elif isinstance(value, tuple):
            one[name] = value[1]
        else:
            one[name] = value
    return one


def _with_depth(config):
    """The 3-D case of a 2-D configuration: a depth axis in front, a copy of its first (H) axis."""
    three = {}
    for name, value in config.items():
        if name in ("input", "weight"):
            three[name] = value[:3] + value[2:]
        elif isinstance(value, tuple):
            three[name] = value[:1] + value
        else:
            three[name] = value
    return three


def _edge_cases(kind):
    cases = _edge_cases_2d()
    if kind == "conv3d":
        return [(name, _with_depth(config)) for name, config in cases]
    if kind == "conv1d":
        seen, cases1 = set(), []
        for name, config in cases:
            one = _last_axis(config)
            key = repr(sorted(one.items()))
            if key not in seen:
                seen.add(key)
                cases1.append((name, one))
        return cases1
    return cases


CHECK = CheckRule(
    config=_config,
    keywords=_keywords,
    torch_keywords=_torch_keywords,
    cs231n=_cs231n,
    mistakes=_mistakes,
    edge_cases=_edge_cases,
    partners={"dx": "w", "dw": "x"},
)
