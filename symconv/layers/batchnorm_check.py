"""Batch norm's part of ``symconv check``: ``fn(dy, x, w, b, eps=...)`` returns ``(dx, dw, db)``.

Training mode, as ``torch.nn.functional.batch_norm(x, None, None, w, b,
training=True, eps=eps)`` (the ``--convention torch`` function must take
``x, w, b`` and ``eps``). The samples of a batch meet in its statistics, so
the mistakes of layers that treat each sample on its own do not apply as
they are; batch norm's own, each computed from the definition in NumPy,
with ``M`` values per channel, ``s = sqrt(var + eps)`` and ``g = dy w``:

* ``statistics-held-constant``: ``dx = g / s``, as if the batch's mean and
  variance did not depend on x;
* ``variance-path-missing``: ``dx = (g - mean(g)) / s``, the mean's
  dependence on x kept and the variance's dropped;
* ``unbiased-variance``: the layer normalized by the unbiased variance
  (over ``M - 1``, ``torch.var``'s default) where PyTorch's batch norm
  divides by ``M``, in both dx and dw;
* ``batch-not-summed``: dw and db from one sample (the first or the last)
  where every sample and position is summed.

dx can be a near cancellation of terms of size ``|g| / s`` (two values per
channel and a small eps leave it of the order of eps), so its tolerance is
taken relative to them (``noise``), not to dx alone.

>>> from symconv.spec.norm import batchnorm_spec
>>> [m.name for m in CHECK.mistakes(batchnorm_spec("batchnorm1d", (2, 3)))]
['statistics-held-constant', 'variance-path-missing', 'unbiased-variance', 'batch-not-summed']
"""

from __future__ import annotations

import numpy as np

from symconv.layers.checking import CheckRule, Mistake, no_cs231n


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _channel(v, x):
    return np.asarray(v, dtype=float).reshape((1, -1) + (1,) * (x.ndim - 2))


def _statistics(v, eps, ddof=0):
    """``(g, xhat, root, count)`` of one probe, the variance over ``count - ddof``."""
    x, axes = v["x"], _axes(v["x"])
    count = x.size // x.shape[1]
    centred = x - x.mean(axis=axes, keepdims=True)
    root = np.sqrt(np.sum(centred ** 2, axis=axes, keepdims=True) / (count - ddof) + eps)
    return v["dy"] * _channel(v["w"], x), centred / root, root, count


def _held_constant(eps):
    def wrong(v):
        g, _, root, _ = _statistics(v, eps)
        return {"dx": g / root}
    return wrong


def _no_variance_path(eps):
    def wrong(v):
        g, _, root, _ = _statistics(v, eps)
        return {"dx": (g - g.mean(axis=_axes(g), keepdims=True)) / root}
    return wrong


def _unbiased(eps):
    def wrong(v):
        g, xhat, root, count = _statistics(v, eps, ddof=1)
        axes = _axes(g)
        dx = (g - g.mean(axis=axes, keepdims=True) - xhat * np.sum(g * xhat, axis=axes, keepdims=True)
              / (count - 1)) / root
        return {"dx": dx, "dw": np.sum(v["dy"] * xhat, axis=axes)}
    return wrong


def _one_sample(eps, n):
    def wrong(v):
        _, xhat, _, _ = _statistics(v, eps)
        dy, axes = v["dy"][n], tuple(range(1, v["dy"].ndim - 1))
        return {"dw": np.sum(dy * xhat[n], axis=axes), "db": np.sum(dy, axis=axes)}
    return wrong


def _mistakes(spec):
    eps, n = float(spec.eps), spec.input[0]
    found = (
        Mistake("statistics-held-constant", "the batch's mean and variance are functions of x too: dx = g/s "
                "leaves out their paths (g = dy w, s = sqrt(var + eps))", (_held_constant(eps),)),
        Mistake("variance-path-missing", "dx keeps the mean's path but not the variance's: the compact form is "
                "(g - mean(g) - xhat mean(g xhat)) / s", (_no_variance_path(eps),)),
        # M > 1 always: the spec refuses a channel of one value, as PyTorch does in training.
        Mistake("unbiased-variance", "the variance is divided by M - 1 (torch.var's default); batch norm "
                "normalizes by the biased variance, divided by M", (_unbiased(eps),)),
    )
    variants = (_one_sample(eps, 0),) if n == 1 else (_one_sample(eps, 0), _one_sample(eps, -1))
    return found + (Mistake("batch-not-summed", "a parameter's gradient comes from one sample only: it must be "
                            "summed over the whole batch", variants),)


def _noise(spec, values):
    """dx is a difference of terms of size |g|/s, which can nearly cancel (two values per channel and a
    small eps leave dx of the order of eps): round-off follows the terms."""
    g, _, root, _ = _statistics(values, float(spec.eps))
    return {"dx": float(np.max(np.abs(g) / root))}


def _edge_cases(kind):
    eps = ("1e-5", "1/10", "1", "1/1000")
    shapes = {"batchnorm1d": [(2, 1), (2, 3), (3, 1), (4, 2), (8, 1), (2, 7), (5, 3), (1, 1, 2), (1, 3, 4),
                              (2, 2, 1), (2, 1, 5), (3, 4, 2), (1, 2, 7), (4, 1, 1), (2, 3, 3)],
              "batchnorm2d": [(1, 1, 1, 2), (1, 1, 2, 1), (2, 1, 1, 1), (1, 3, 2, 2), (2, 2, 3, 3), (4, 1, 2, 2),
                              (1, 2, 1, 5), (3, 3, 1, 1), (2, 4, 2, 1), (1, 1, 4, 4), (2, 1, 3, 2), (5, 2, 1, 2),
                              (1, 6, 2, 3), (2, 2, 2, 2), (3, 1, 5, 1)]}[kind]
    return [(f"input {'x'.join(map(str, shape))}, eps {e}", {"input": shape, "eps": e})
            for i, shape in enumerate(shapes) for e in (eps[i % 4], eps[(i + 2) % 4])]


CHECK = CheckRule(
    config=lambda spec: {"input": spec.input, "eps": str(spec.eps)},
    keywords=lambda spec: {"eps": float(spec.eps)},
    torch_keywords=lambda spec: {"eps": float(spec.eps)},
    cs231n=lambda spec: no_cs231n(spec.kind, "the course's batchnorm_backward takes its own cache"),
    mistakes=_mistakes,
    edge_cases=_edge_cases,
    per_sample=False,
    noise=_noise,
)
