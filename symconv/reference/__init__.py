"""NumPy reference kernels: convolution, pooling and activations, forward and backward.

They share no code with the symbolic derivation they check, and import
nothing of symconv but :mod:`symconv.errors`:

* :mod:`symconv.reference.conv`: convolution (im2col in chunks, threads by sample);
* :mod:`symconv.reference.conv_transpose`: transposed convolution (the scatter, and its gather backward);
* :mod:`symconv.reference.maxpool`, :mod:`~symconv.reference.avgpool`: pooling,
  over the window geometry of :mod:`~symconv.reference.windows`;
* :mod:`symconv.reference.activation`: ReLU and leaky ReLU;
* :mod:`symconv.reference.args`, :mod:`~symconv.reference.threads`: argument
  checks, and the thread pool.

The output sizes are computed here again, independently of
:func:`symconv.spec.values.output_size`, and tests compare the two.
"""

from symconv.reference.activation import relu_backward, relu_forward
from symconv.reference.avgpool import avg_pool_backward, avg_pool_forward
from symconv.reference.conv import conv_backward, conv_forward
from symconv.reference.conv_transpose import conv_transpose_backward, conv_transpose_forward
from symconv.reference.maxpool import max_pool_backward, max_pool_forward

__all__ = ["conv_forward", "conv_backward", "conv_transpose_forward", "conv_transpose_backward", "max_pool_forward", "max_pool_backward",
           "avg_pool_forward", "avg_pool_backward", "relu_forward", "relu_backward"]
