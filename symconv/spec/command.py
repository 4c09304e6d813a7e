"""A layer's or a stack's spec from command-line option text: what ``derive``, ``verify``, ``plot`` and ``render`` share.

>>> spec_from_options("conv1d", "1,1,4", weight="1,1,2").output_shape
(1, 1, 3)
>>> spec_from_options("stack", "1,1,4", layers="relu | maxpool1d(kernel=2)").output_shape
(1, 1, 2)
>>> spec_from_options("relu", "1,1,4", layers="relu")
Traceback (most recent call last):
...
symconv.errors.SymconvError: layers: got 'relu', expected --layers only with the layer 'stack'
"""

from __future__ import annotations

from symconv.errors import SymconvError
from symconv.names import STACK
from symconv.spec.options import build_spec
from symconv.spec.stack import parse_layers, stack_spec
from symconv.spec.values import parse_ints


def spec_from_options(layer: str, input: str, layers: str | None = None, **options):
    """The validated spec of ``layer`` (or of a stack) from option text; ``None`` means not given.

    A stack takes its layers' options inside ``layers``
    (``"conv2d(weight=2,1,3,3) | relu"``, or the path of a JSON file), and no
    option of its own.
    """
    if layer != STACK:
        if layers is not None:
            raise SymconvError(f"layers: got {layers!r}, expected --layers only with the layer 'stack'")
        return build_spec(layer, input, **options)
    given = [name.replace("_", "-") for name, value in options.items() if value not in (None, False)]
    if given:
        raise SymconvError(f"{given[0]}: got a value for stack, expected the layers' options inside --layers")
    if layers is None:
        raise SymconvError("layers: got nothing, expected --layers \"conv2d(weight=...) | relu | ...\" for stack")
    return stack_spec(parse_ints(input, "input", "N,C,L, N,C,H,W or N,C,D,H,W"), parse_layers(layers))
