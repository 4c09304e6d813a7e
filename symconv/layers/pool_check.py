"""Pooling's part of ``symconv check``: calling a user's pool backward, its classic mistakes, the edge suite.

The mistakes, each computed from the window geometry and the reference kernels:

* ``stride-ignored`` / ``dilation-ignored``: windows at stride 1, taps at dilation 1;
* ``padding-offset``: the padded input's gradient cropped from 0, not from the padding;
* ``max-ties-all`` / ``-split`` / ``-last``: every tied maximum gets dy, ties
  share it, or the last maximum gets it (PyTorch gives it to the first);
* ``avg-divisor``: a divisor other than PyTorch's (padding counted when it
  should not be, or not when it should; the whole kernel for a clipped window).

>>> from symconv.spec.pool import pool_spec
>>> spec = pool_spec("maxpool1d", (1, 1, 3), kernel=3)
>>> ties = {m.name: m for m in MAX_CHECK.mistakes(spec)}
>>> values = {"x": np.array([[[1.0, 1.0, 0.0]]]), "dy": np.array([[[6.0]]])}
>>> [ties[name].variants[0](values)["dx"].tolist() for name in ("max-ties-all", "max-ties-split", "max-ties-last")]
[[[[6.0, 6.0, 0.0]]], [[[3.0, 3.0, 0.0]]], [[[0.0, 6.0, 0.0]]]]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np

from symconv.errors import SymconvError
from symconv.layers.checking import CheckRule, Mistake, crop, embed


def _max_options(spec):
    return dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, ceil_mode=spec.ceil_mode)


def _avg_options(spec):
    return dict(stride=spec.stride, padding=spec.padding, ceil_mode=spec.ceil_mode,
                count_include_pad=spec.count_include_pad, divisor_override=spec.divisor_override)


def _max_backward(spec):
    from symconv.reference.maxpool import max_pool_backward  # the kernels load when a check runs

    return lambda dy, x: max_pool_backward(dy, x, spec.kernel, **_max_options(spec))


def _avg_backward(spec):
    from symconv.reference.avgpool import avg_pool_backward

    return lambda dy, x: avg_pool_backward(dy, x, spec.kernel, **_avg_options(spec))


def _config(spec, is_max) -> dict:
    config = {"input": spec.input, "kernel": spec.kernel, "stride": spec.stride, "padding": spec.padding}
    if is_max:
        config["dilation"] = spec.dilation
    if spec.ceil_mode:
        config["ceil_mode"] = True
    if not is_max and not spec.count_include_pad:
        config["no_count_include_pad"] = True
    if spec.divisor_override is not None:
        config["divisor_override"] = spec.divisor_override
    return config


def _keywords(spec, is_max) -> dict:
    keywords = {"kernel_size": spec.kernel, "stride": spec.stride, "padding": spec.padding}
    if is_max:
        keywords["dilation"] = spec.dilation
    keywords["ceil_mode"] = spec.ceil_mode
    if not is_max:
        keywords["count_include_pad"] = spec.count_include_pad
        if spec.divisor_override is not None:
            keywords["divisor_override"] = spec.divisor_override
    return keywords


def _cs231n(spec) -> dict:
    problems = []
    if spec.ndim != 2:
        problems.append(f"a 2-D pool (got {spec.kind})")
    if len(set(spec.stride)) != 1:
        problems.append(f"one stride for both axes (got {list(spec.stride)})")
    if any(spec.padding):
        problems.append("no padding")
    if any(d != 1 for d in spec.dilation):
        problems.append("no dilation")
    if spec.ceil_mode:
        problems.append("no ceil_mode")
    if spec.divisor_override is not None:
        problems.append("no divisor-override")
    if problems:
        raise SymconvError(f"convention: got 'cs231n' for this layer, expected {', '.join(problems)} "
                           f"(cs231n's pool_param holds only pool_height, pool_width and stride)")
    return {"pool_height": spec.kernel[0], "pool_width": spec.kernel[1], "stride": spec.stride[0]}


def _at_one(spec, name, backward):
    """Windows at stride 1 or taps at dilation 1, dy in the corner of the larger output."""
    changed = replace(spec, **{name: (1,) * spec.ndim})
    run = backward(changed)
    return lambda v: {"dx": run(embed(v["dy"], changed.output_shape), v["x"])}


def _axis_taps(spec, axis):
    """Per output of one axis, the padded-frame position of each tap, and whether it is inside the padded input."""
    size, k, s, p, d = (spec.input[2 + axis], spec.kernel[axis], spec.stride[axis], spec.padding[axis],
                        spec.dilation[axis])
    taps = np.arange(spec.output_shape[2 + axis])[:, None] * s + np.arange(k)[None, :] * d
    return taps, taps < size + 2 * p


def _padding_offset(spec, is_max):
    """The gradient of the padded input, cropped from 0: what a loop over the padded frame returns."""
    backward = (_max_backward if is_max else _avg_backward)(spec)
    axes = [_axis_taps(spec, a) for a in range(spec.ndim)]
    padded = spec.input[:2] + tuple(h + 2 * p for h, p in zip(spec.input[2:], spec.padding))

    def divisors():
        if spec.divisor_override is not None:
            return float(spec.divisor_override)
        counts = []
        for axis, (taps, inside) in enumerate(axes):
            p, h = spec.padding[axis], spec.input[2 + axis]
            real = inside & (taps >= p) & (taps < p + h)
            counts.append((inside if spec.count_include_pad else real).sum(axis=1))
        return math.prod(np.ix_(*counts)) if len(counts) > 1 else counts[0]

    def wrong(v):
        dx_pad = np.zeros(padded)
        if is_max:  # the padding is -inf and never wins: the gradient only moves
            dx_pad[(Ellipsis,) + tuple(slice(p, p + h) for p, h in zip(spec.padding, spec.input[2:]))] = \
                backward(v["dy"], v["x"])
        else:
            share = v["dy"] / divisors()
            for tap in itertools.product(*(range(k) for k in spec.kernel)):
                outs = [np.nonzero(inside[:, t])[0] for (taps, inside), t in zip(axes, tap)]
                where = [taps[o, t] for (taps, _), o, t in zip(axes, outs, tap)]
                np.add.at(dx_pad, (slice(None), slice(None)) + np.ix_(*where),
                          share[(slice(None), slice(None)) + np.ix_(*outs)])
        return {"dx": crop(dx_pad, spec.input)}
    return wrong


def _ties(spec, how):
    """dy to every tied maximum ("all"), shared among them ("split"), or to the last one ("last")."""
    def wrong(v):
        x, dy = v["x"], v["dy"]
        from symconv.reference.windows import window_candidates

        where = window_candidates(np.arange(x.size, dtype=float).reshape(x.shape), spec.kernel, spec.stride,
                                  spec.padding, spec.dilation, spec.ceil_mode)
        real = where > -np.inf
        flat = np.where(real, where, 0).astype(np.intp)
        values = np.where(real, x.ravel()[flat], -np.inf)
        tied = real & (values == values.max(axis=-1, keepdims=True))
        if how == "all":
            weight = tied.astype(float)
        elif how == "split":
            weight = tied / tied.sum(axis=-1, keepdims=True)
        else:
            last = tied.shape[-1] - 1 - np.argmax(tied[..., ::-1], axis=-1)
            weight = np.zeros(tied.shape)
            np.put_along_axis(weight, last[..., None], 1.0, axis=-1)
        dx = np.zeros(x.size)
        np.add.at(dx, flat[real], (weight * dy[..., None])[real])
        return {"dx": dx.reshape(x.shape)}
    return wrong


def _divisor_variants(spec):
    """Average pools with PyTorch's other divisors: each is a way of getting the divisor wrong."""
    area = math.prod(spec.kernel)
    own = (spec.count_include_pad, spec.divisor_override)
    others = [(not spec.count_include_pad, None), (spec.count_include_pad, None), (True, area)]
    variants = []
    for include, override in dict.fromkeys(others):
        if (include, override) != own:
            run = _avg_backward(replace(spec, count_include_pad=include, divisor_override=override))
            variants.append(lambda v, run=run: {"dx": run(v["dy"], v["x"])})
    return tuple(variants)


_STRIDE = ("stride-ignored", "the windows are placed at stride 1: output position i must read the input "
           "from i*stride")
_OFFSET = ("padding-offset", "the padded input's gradient is cropped from 0: it must be cropped from the "
           "padding (dx = dx_pad[P:P+H])")


def _max_mistakes(spec):
    return (
        Mistake(*_STRIDE, (_at_one(spec, "stride", _max_backward),)),
        Mistake("dilation-ignored", "the window's taps are read next to each other: tap k must read the input "
                "at k*dilation", (_at_one(spec, "dilation", _max_backward),)),
        Mistake(*_OFFSET, (_padding_offset(spec, True),)),
        Mistake("max-ties-all", "every tied maximum of a window gets dy: PyTorch gives it to the first "
                "maximum only (in row-major window order)", (_ties(spec, "all"),)),
        Mistake("max-ties-split", "tied maxima share dy: PyTorch gives all of it to the first maximum "
                "(in row-major window order)", (_ties(spec, "split"),)),
        Mistake("max-ties-last", "the last of tied maxima gets dy: PyTorch gives it to the first "
                "(in row-major window order)", (_ties(spec, "last"),)),
    )


def _avg_mistakes(spec):
    return (
        Mistake(*_STRIDE, (_at_one(spec, "stride", _avg_backward),)),
        Mistake(*_OFFSET, (_padding_offset(spec, False),)),
        Mistake("avg-divisor", "a window's share is divided by the wrong count: PyTorch divides by the window "
                "clipped to the padded input (count_include_pad), by its in-bounds entries (without it), or by "
                "divisor_override", _divisor_variants(spec)),
    )


def _case(name, input, kernel, **options):
    return name, {"input": input, "kernel": kernel, **options}


_EDGE_2D = [
    _case("kernel 2, stride 2: no overlap", (1, 1, 4, 4), (2, 2)),
    _case("kernel 2, stride 1: overlap", (1, 2, 4, 4), (2, 2), stride=(1, 1)),
    _case("kernel 3, stride 1", (2, 1, 5, 5), (3, 3), stride=(1, 1)),
    _case("kernel 3, stride 2, padding 1", (2, 3, 7, 7), (3, 3), stride=(2, 2), padding=(1, 1)),
    _case("kernel 3, stride 2", (1, 1, 7, 7), (3, 3), stride=(2, 2)),
    _case("global: kernel = input", (1, 2, 4, 4), (4, 4)),
    _case("kernel 1", (1, 1, 3, 3), (1, 1)),
    _case("kernel 1, stride 2", (1, 2, 5, 5), (1, 1), stride=(2, 2)),
    _case("stride > kernel", (1, 1, 7, 7), (2, 2), stride=(3, 3)),
    _case("ceil_mode, partial last window", (1, 1, 5, 5), (2, 2), ceil_mode=True),
    _case("ceil_mode, kernel 3, stride 2", (1, 1, 6, 6), (3, 3), stride=(2, 2), ceil_mode=True),
    _case("ceil_mode, padding 1", (1, 1, 6, 6), (3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True),
    _case("ceil_mode drops a window in the padding", (1, 1, 3, 3), (2, 2), padding=(1, 1), ceil_mode=True),
    _case("ceil_mode drops one, stride 3", (1, 1, 7, 7), (2, 2), stride=(3, 3), padding=(1, 1), ceil_mode=True),
    _case("padding 1, kernel 2", (1, 1, 4, 4), (2, 2), padding=(1, 1)),
    _case("padding 1, kernel 3, stride 1", (1, 1, 4, 4), (3, 3), stride=(1, 1), padding=(1, 1)),
    _case("kernel 2,3, stride 2,1", (1, 1, 5, 6), (2, 3), stride=(2, 1)),
    _case("kernel 2, stride 1,2", (1, 2, 4, 5), (2, 2), stride=(1, 2)),
    _case("kernel 1,3", (1, 1, 2, 7), (1, 3)),
    _case("kernel 3,1, stride 1", (2, 1, 4, 3), (3, 1), stride=(1, 1)),
    _case("dilation 2", (1, 1, 7, 7), (3, 3), stride=(1, 1), dilation=(2, 2)),
    _case("dilation 2, stride 2, padding 1, ceil_mode", (1, 1, 8, 8), (3, 3), stride=(2, 2), padding=(1, 1),
          dilation=(2, 2), ceil_mode=True),
    _case("dilation 1,2", (1, 1, 5, 6), (2, 2), stride=(1, 1), dilation=(1, 2)),
    _case("batch 3, 2 channels, overlap", (3, 2, 3, 3), (2, 2), stride=(1, 1)),
    _case("one window", (1, 1, 3, 3), (3, 3), stride=(1, 1)),
    _case("1x1 input", (2, 2, 1, 1), (1, 1)),
    _case("kernel 2, stride 1, padding 1", (1, 1, 3, 3), (2, 2), stride=(1, 1), padding=(1, 1)),
    _case("kernel 4, stride 2, padding 2", (1, 1, 8, 8), (4, 4), stride=(2, 2), padding=(2, 2)),
    _case("kernel 3, stride 3, leftover", (1, 1, 8, 8), (3, 3)),
    _case("ceil_mode on a 3x7 input", (1, 1, 3, 7), (2, 2), ceil_mode=True),
    _case("kernel 5, padding 2: same size", (1, 1, 5, 5), (5, 5), stride=(1, 1), padding=(2, 2)),
    _case("kernel 3, padding 1, ceil_mode", (1, 1, 4, 4), (3, 3), stride=(1, 1), padding=(1, 1), ceil_mode=True),
]

_AVG_2D = [
    _case("count_include_pad off, padding 1", (1, 1, 5, 5), (3, 3), stride=(2, 2), padding=(1, 1),
          no_count_include_pad=True),
    _case("count_include_pad off, ceil_mode", (1, 1, 5, 5), (2, 2), padding=(1, 1), ceil_mode=True,
          no_count_include_pad=True),
    _case("count_include_pad off, stride 1", (2, 2, 4, 4), (3, 3), stride=(1, 1), padding=(1, 1),
          no_count_include_pad=True),
    _case("divisor_override 2", (1, 1, 4, 4), (2, 2), divisor_override=2),
    _case("divisor_override 5, padding 1", (1, 1, 4, 4), (3, 3), stride=(1, 1), padding=(1, 1),
          divisor_override=5),
    _case("ceil_mode, window past the padded end", (1, 1, 5, 5), (3, 3), stride=(2, 2), ceil_mode=True),
]


def _last_axis(config):
    return {name: (value[:2] + value[3:] if name == "input" else value[-1:] if isinstance(value, tuple)
                   else value) for name, value in config.items()}


def _depth_axis(config):
    """A 2-D configuration in 3-D: the depth axis a copy of the height axis."""
    return {name: (value[:2] + value[2:3] + value[2:] if name == "input" else value[:1] + value
                   if isinstance(value, tuple) else value) for name, value in config.items()}


def _edge_cases(kind):
    is_max = kind.startswith("max")
    cases = [c for c in _EDGE_2D if is_max or "dilation" not in c[1]] + ([] if is_max else _AVG_2D)
    if kind.endswith("3d"):
        return [(name, _depth_axis(config)) for name, config in cases]
    if kind.endswith("1d"):
        seen, one_d = set(), []
        for name, config in cases:
            if "divisor_override" in config:  # torch.nn.functional.avg_pool1d has none
                continue
            one = _last_axis(config)
            if repr(one) not in seen:
                seen.add(repr(one))
                one_d.append((name, one))
        return one_d
    return cases


MAX_CHECK = CheckRule(
    config=lambda spec: _config(spec, True),
    keywords=lambda spec: _keywords(spec, True),
    torch_keywords=lambda spec: _keywords(spec, True),
    cs231n=_cs231n,
    mistakes=_max_mistakes,
    edge_cases=_edge_cases,
)

AVG_CHECK = CheckRule(
    config=lambda spec: _config(spec, False),
    keywords=lambda spec: _keywords(spec, False),
    torch_keywords=lambda spec: _keywords(spec, False),
    cs231n=_cs231n,
    mistakes=_avg_mistakes,
    edge_cases=_edge_cases,
)
