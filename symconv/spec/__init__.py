"""Validated, frozen layer specs: the first stage, and the only one that reads user numbers.

Nothing here imports SymPy or NumPy, so the size guard answers at once.
"""

from symconv.spec.conv import ConvSpec, conv_spec
from symconv.spec.conv_transpose import ConvTransposeSpec, conv_transpose_spec
from symconv.spec.activation import ActivationSpec, activation_spec
from symconv.spec.pool import PoolSpec, pool_spec
from symconv.spec.size import DEFAULT_MAX_TERMS, check_size

__all__ = ["ConvSpec", "ConvTransposeSpec", "PoolSpec", "ActivationSpec", "conv_spec", "conv_transpose_spec",
           "pool_spec", "activation_spec",
           "DEFAULT_MAX_TERMS", "check_size"]
