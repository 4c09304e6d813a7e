"""Correct average-pool backward with padding, ceil_mode and count_include_pad=False.

Each window spreads dy evenly over the inputs it averaged; the divisor is the
number of real inputs in the window (count_include_pad=False), or the window
clipped to the padded input (count_include_pad=True), as PyTorch divides.
"""

import numpy as np

KIND = "avgpool2d"
CONVENTION = "plain"
FUNCTION = "avgpool2d_backward"
FORWARD = None
OPTIONS = dict(input=(2, 2, 6, 6), kernel=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
MISTAKE = None


def avgpool2d_backward(dy, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    # ceil_mode only changes how many windows there are, which dy's shape already says.
    N, C, H, W = x.shape
    KH, KW = kernel_size
    SH, SW = stride
    PH, PW = padding
    _, _, Ho, Wo = dy.shape

    dx = np.zeros_like(x)
    for i in range(Ho):
        h0 = i * SH - PH
        h1 = min(h0 + KH, H + PH)  # a ceil_mode window may stick out of the padded input
        for j in range(Wo):
            w0 = j * SW - PW
            w1 = min(w0 + KW, W + PW)
            hs, he, ws, we = max(h0, 0), min(h1, H), max(w0, 0), min(w1, W)
            if count_include_pad:
                divisor = (h1 - h0) * (w1 - w0)
            else:
                divisor = (he - hs) * (we - ws)
            dx[:, :, hs:he, ws:we] += (dy[:, :, i, j] / divisor)[:, :, None, None]
    return dx
