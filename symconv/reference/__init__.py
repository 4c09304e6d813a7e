"""NumPy reference kernels: convolution, pooling and activations, forward and backward.

They share no code with the symbolic derivation they check, and import
nothing of symconv but :mod:`symconv.errors`:

* :mod:`symconv.reference.conv`: convolution (im2col in chunks, threads by sample);
* :mod:`symconv.reference.conv_transpose`: transposed convolution (the scatter, and its gather backward);
* :mod:`symconv.reference.maxpool`, :mod:`~symconv.reference.avgpool`: pooling,
  over the window geometry of :mod:`~symconv.reference.windows`;
* :mod:`symconv.reference.adaptive`: adaptive average and max pooling;
* :mod:`symconv.reference.activation`: ReLU and leaky ReLU;
  :mod:`~symconv.reference.smooth`: sigmoid and tanh;
* :mod:`symconv.reference.linear`: the fully connected layer and flatten;
* :mod:`symconv.reference.batchnorm`: batch normalization in training mode;
* :mod:`symconv.reference.loss`: the losses, mse and cross-entropy, per term and their gradient;
* :mod:`symconv.reference.args`, :mod:`~symconv.reference.threads`: argument
  checks, and the thread pool.

The output sizes are computed here again, independently of
:func:`symconv.spec.values.output_size`, and tests compare the two.
"""

from symconv.reference.activation import relu_backward, relu_forward
from symconv.reference.adaptive import (
    adaptive_avg_pool_backward,
    adaptive_avg_pool_forward,
    adaptive_max_pool_backward,
    adaptive_max_pool_forward,
)
from symconv.reference.avgpool import avg_pool_backward, avg_pool_forward
from symconv.reference.conv import conv_backward, conv_forward
from symconv.reference.conv_transpose import conv_transpose_backward, conv_transpose_forward
from symconv.reference.batchnorm import batchnorm_backward, batchnorm_forward
from symconv.reference.linear import flatten_backward, flatten_forward, linear_backward, linear_forward
from symconv.reference.loss import cross_entropy_backward, cross_entropy_terms, mse_backward, mse_terms
from symconv.reference.maxpool import max_pool_backward, max_pool_forward
from symconv.reference.smooth import sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward

__all__ = ["conv_forward", "conv_backward", "conv_transpose_forward", "conv_transpose_backward", "max_pool_forward",
           "max_pool_backward", "avg_pool_forward", "avg_pool_backward", "adaptive_avg_pool_forward",
           "adaptive_avg_pool_backward", "adaptive_max_pool_forward", "adaptive_max_pool_backward", "relu_forward",
           "relu_backward", "linear_forward", "linear_backward", "flatten_forward", "flatten_backward",
           "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
           "batchnorm_forward", "batchnorm_backward",
           "mse_terms", "mse_backward", "cross_entropy_terms", "cross_entropy_backward"]
