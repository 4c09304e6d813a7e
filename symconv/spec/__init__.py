"""Validated, frozen layer specs: the first stage, and the only one that reads user numbers.

Nothing here imports SymPy or NumPy, so the size guard answers at once.
"""

from symconv.spec.conv import ConvSpec, conv_spec
from symconv.spec.conv_transpose import ConvTransposeSpec, conv_transpose_spec
from symconv.spec.activation import ActivationSpec, activation_spec
from symconv.spec.pool import PoolSpec, pool_spec
from symconv.spec.adaptive import AdaptivePoolSpec, adaptive_pool_spec
from symconv.spec.dense import FlattenSpec, LinearSpec, flatten_spec, linear_spec
from symconv.spec.norm import BatchNormSpec, batchnorm_spec
from symconv.spec.size import DEFAULT_MAX_TERMS, check_size

__all__ = ["ConvSpec", "ConvTransposeSpec", "PoolSpec", "AdaptivePoolSpec", "ActivationSpec", "conv_spec",
           "conv_transpose_spec", "pool_spec", "adaptive_pool_spec", "activation_spec",
           "LinearSpec", "FlattenSpec", "BatchNormSpec", "linear_spec", "flatten_spec", "batchnorm_spec",
           "DEFAULT_MAX_TERMS", "check_size"]
