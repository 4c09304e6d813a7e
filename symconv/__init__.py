"""symconv: derive and prove the gradients of convolution, pooling and activation layers.

The public API, imported lazily (``import symconv`` loads neither SymPy nor
NumPy, so ``symconv --version`` stays instant)::

    import symconv

    spec = symconv.conv_spec("conv2d", input=(1, 1, 4, 4), weight=(1, 1, 2, 2))
    d = symconv.derive(spec)                       # forward and gradients, element by element
    print(symconv.render(d, "latex", index_base=1))
    print(symconv.verify(d).table())               # reference, finite differences, exact
    print(symconv.render(symconv.formula("conv2d"), "text"))   # index formulas for every size

Data flows one way: spec -> layers (each kind's rule) -> engine (gradients)
-> printing; ``verify`` reads a derivation and checks it against the NumPy
reference kernels (``symconv.reference``), finite differences and exact
rational arithmetic. The first use of the API also installs the Jupyter
displays (:func:`symconv.printing.jupyter.install`).

>>> import symconv
>>> symconv.derive(symconv.conv_spec("conv1d", (1, 1, 3), (1, 1, 2))).gradients["db"][(0,)]
dy[0, 0, 0] + dy[0, 0, 1]
"""

from __future__ import annotations

import importlib

from symconv.errors import SymconvError

__version__ = "0.1.0"

#: Public name -> (module, attribute), imported on first use.
_LAZY = {
    "conv_spec": ("symconv.spec.conv", "conv_spec"),
    "conv_transpose_spec": ("symconv.spec.conv_transpose", "conv_transpose_spec"),
    "pool_spec": ("symconv.spec.pool", "pool_spec"),
    "adaptive_pool_spec": ("symconv.spec.adaptive", "adaptive_pool_spec"),
    "activation_spec": ("symconv.spec.activation", "activation_spec"),
    "linear_spec": ("symconv.spec.dense", "linear_spec"),
    "flatten_spec": ("symconv.spec.dense", "flatten_spec"),
    "batchnorm_spec": ("symconv.spec.norm", "batchnorm_spec"),
    "stack_spec": ("symconv.spec.stack", "stack_spec"),
    "parse_layers": ("symconv.spec.stack", "parse_layers"),
    "spec_from_options": ("symconv.spec.command", "spec_from_options"),
    "derive": ("symconv.engine.derive", "derive"),
    "verify": ("symconv.verify", None),  # the package, callable (see symconv.verify)
    "render": ("symconv.printing.documents", "render"),
    "formula": ("symconv.formula", None),  # the package, callable (see symconv.formula)
    "explain": ("symconv.explain", None),  # the package, callable (see symconv.explain)
    "reference": ("symconv.reference", None),
    "check_backward": ("symconv.check", "check_backward"),
}

__all__ = ["SymconvError", "__version__", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'symconv' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    if name in ("derive", "formula", "render"):
        importlib.import_module("symconv.printing.jupyter").install()
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
