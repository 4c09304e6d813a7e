"""A torch.autograd.Function for conv1d with stride 2 hard-coded and a hand-written, looped backward.

Mistake (stride-ignored): the backward takes the window of output i at x[..., i:i+K]
instead of x[..., 2*i:2*i+K], both in dx and in dw. The forward and db are right.
"""

import torch
import torch.nn.functional as F

KIND = "conv1d"
CONVENTION = "torch"
FUNCTION = "MyStridedConv1d.apply"
FORWARD = None
OPTIONS = dict(input=(2, 3, 9), weight=(2, 3, 3), stride=2)
MISTAKE = "stride-ignored"


class MyStridedConv1d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return F.conv1d(x, w, b, stride=2)

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        K = w.shape[2]
        dx = torch.zeros_like(x)
        dw = torch.zeros_like(w)
        for i in range(dy.shape[2]):
            window = x[:, :, i:i + K]                                   # (N, C, K)
            dw += torch.einsum("nf,nck->fck", dy[:, :, i], window)
            dx[:, :, i:i + K] += torch.einsum("nf,fck->nck", dy[:, :, i], w)
        db = dy.sum(dim=(0, 2))
        return dx, dw, db
