"""A torch.autograd.Function for conv2d (stride 1, padding 1 hard-coded) with a hand-written backward.

Mistake (batch-not-summed): dw and db are computed from sample 0 of the batch only
(x[0], dy[0]) instead of summed over n. dx (a transposed convolution) is right.
"""

import torch
import torch.nn.functional as F

KIND = "conv2d"
CONVENTION = "torch"
FUNCTION = "MyConv2d.apply"
FORWARD = None
OPTIONS = dict(input=(2, 2, 5, 5), weight=(3, 2, 3, 3), stride=1, padding=1)
MISTAKE = "batch-not-summed"


class MyConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return F.conv2d(x, w, b, stride=1, padding=1)

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        KH, KW = w.shape[2:]
        Ho, Wo = dy.shape[2:]

        dx = F.conv_transpose2d(dy, w, stride=1, padding=1)

        # dw[f, c, p, q] = sum_{i, j} dy[f, i, j] * x_pad[c, i + p, j + q]
        x0 = F.pad(x[0], (1, 1, 1, 1))  # (C, H+2, W+2)
        dy0 = dy[0]                      # (F, Ho, Wo)
        dw = torch.zeros_like(w)
        for p in range(KH):
            for q in range(KW):
                dw[:, :, p, q] = torch.einsum("fij,cij->fc", dy0, x0[:, p:p + Ho, q:q + Wo])
        db = dy0.sum(dim=(1, 2))
        return dx, dw, db
