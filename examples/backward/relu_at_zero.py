"""ReLU backward, dx = dy * mask.

Mistake (relu-at-zero): the mask is x >= 0 instead of x > 0, so an input that is
exactly 0 passes its gradient; PyTorch's ReLU gives it 0.
"""

import numpy as np

KIND = "relu"
CONVENTION = "plain"
FUNCTION = "relu_backward"
FORWARD = None
OPTIONS = dict(input=(2, 3, 4, 4))
MISTAKE = "relu-at-zero"


def relu_backward(dy, x):
    return dy * (x >= 0)
