"""NumPy reference kernels: convolution, pooling and activations, forward and backward."""

from symconv.reference.activation import relu_backward, relu_forward
from symconv.reference.avgpool import avg_pool_backward, avg_pool_forward
from symconv.reference.conv import conv_backward, conv_forward
from symconv.reference.maxpool import max_pool_backward, max_pool_forward

__all__ = ["conv_forward", "conv_backward", "max_pool_forward", "max_pool_backward",
           "avg_pool_forward", "avg_pool_backward", "relu_forward", "relu_backward"]
