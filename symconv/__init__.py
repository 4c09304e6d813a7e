"""symconv: derive and prove the gradients of convolution layers symbolically.

The data flows one way::

    spec (ConvSpec) -> symbolic tensors -> forward -> gradients (engine)
                    -> presentation -> printer (latex / markdown / text / json)

and verification (``symconv.verify.layer``) reads a derivation and checks it against
the NumPy reference kernels (``symconv.reference.conv``), finite differences and
exact rational arithmetic.

Heavy modules (SymPy, NumPy) are imported by the submodules that need them,
never here, so that ``symconv --version`` stays instant.
"""

__version__ = "0.1.0"

from symconv.errors import SymconvError  # noqa: E402  (cheap: no dependencies)

__all__ = ["SymconvError", "__version__"]
