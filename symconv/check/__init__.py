"""Check a backward pass somebody wrote: which entries are wrong, which mistake it makes, what the test cannot see.

>>> import numpy as np, symconv
>>> def relu_backward(dy, x):
...     return dy * (x >= 0)          # the mask should be x > 0
>>> report = symconv.check_backward(relu_backward, "relu", input=(1, 1, 4))
>>> report.ok, [f.name for f in report.diagnosis]
(False, ['relu-at-zero'])
"""

from __future__ import annotations

from symconv.check.report import CheckReport
from symconv.check.run import check_layer_size, run_check
from symconv.check.target import load_target
from symconv.spec.options import build_spec


def layer_spec(kind: str, input, weight=None, kernel=None, stride=None, padding=None, dilation=None,
               groups=None, bias=True, ceil_mode=False, count_include_pad=True, divisor_override=None,
               negative_slope=None, padding_mode=None, output_padding=None, output_size=None, eps=None):
    """The spec of a layer from Python values (the CLI's options under their Python names)."""
    return build_spec(kind, tuple(input) if isinstance(input, (list, tuple)) else input,
                      weight=tuple(weight) if isinstance(weight, list) else weight, kernel=kernel,
                      stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
                      groups=groups, no_bias=not bias,
                      ceil_mode=ceil_mode, no_count_include_pad=not count_include_pad,
                      divisor_override=divisor_override, negative_slope=negative_slope, padding_mode=padding_mode,
                      output_size=tuple(output_size) if isinstance(output_size, list) else output_size,
                      eps=eps)


def check_backward(fn, kind: str, *, input, convention: str = "plain", forward=None, seed: int = 0,
                   **options) -> CheckReport:
    """Check the user's backward ``fn`` (a callable or a TARGET string) for one layer.

    ``options`` are the layer's: ``weight``, ``kernel``, ``stride``,
    ``padding``, ``padding_mode``, ``output_padding``, ``dilation``, ``groups``, ``bias``, ``ceil_mode``,
    ``count_include_pad``, ``divisor_override``, ``negative_slope``, ``output_size``, ``eps``.
    The report's ``.ok``, ``.gradients``, ``.diagnosis`` and
    ``.blind_spots`` say what was found; ``.assert_ok()`` raises with the
    readable report.
    """
    spec = layer_spec(kind, input, **options)
    check_layer_size(spec)  # before the user's code is loaded
    target = fn if isinstance(fn, str) else getattr(fn, "__qualname__", repr(fn))
    function = load_target(fn) if isinstance(fn, str) else fn
    before = load_target(forward, "forward") if isinstance(forward, str) else forward
    return run_check(spec, function, convention, before, seed, target)


__all__ = ["CheckReport", "check_backward", "layer_spec", "load_target", "run_check"]
