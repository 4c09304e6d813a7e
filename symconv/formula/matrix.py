r"""Matrix pictures of a small layer's gradients, drawn as the hand derivations draw them.

For each slice (sample n, channel c, filter f) the gradients are pictured as
correlations of whole matrices (seeds 000 and 002):

.. math::

    dw_{f,c} \mathrel{+}= x^{\mathrm{pad}}_{n,c} * dy^{\uparrow S}_{n,f}, \qquad
    dx_{n,c} \mathrel{+}= \widetilde{dy}_{n,f} * w^{\mathrm{rot}\uparrow D}_{c,f}, \qquad
    db_f = \sum dy_{n,f}

where :math:`*` slides the right matrix over the left one and sums the
products (cross-correlation, the seeds' "produit de convolution"),
:math:`dy^{\uparrow S}` has :math:`S-1` zeros between neighbours, and
:math:`\widetilde{dy}` is that, framed in zeros (:mod:`symconv.formula.operators`).
With dilation, the rotated w is drawn with its :math:`D-1` zeros between taps
and dw is read every :math:`D` positions. A 1-D layer also gets its
Jacobians, banded matrices: :math:`dx = dy \cdot \partial y / \partial x`.

Every picture is built from the same arrays as the operator identities, and
the tests correlate the drawn matrices and find the derivation.

>>> from symconv.engine.derive import derive
>>> from symconv.spec.conv import conv_spec
>>> d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
>>> jacobian(d, "x", 0, 0, 0)
Matrix([
[w[0, 0, 0], w[0, 0, 1],          0,          0],
[         0, w[0, 0, 0], w[0, 0, 1],          0],
[         0,          0, w[0, 0, 0], w[0, 0, 1]]])
"""

from __future__ import annotations

import numpy as np
from sympy import Matrix, diff

from symconv.errors import SymconvError
from symconv.formula.operators import pad_x, rotate_w, spread_dy, symbolic_tensors
from symconv.symbolic.tensors import element

#: The largest matrix drawn, per slice and per axis, and the most slices drawn.
MAX_SIDE = 12
MAX_SLICES = 16


def spread(array, steps):
    """``array`` with ``step - 1`` zeros between neighbours on each trailing axis."""
    lead = array.ndim - len(steps)
    shape = array.shape[:lead] + tuple((n - 1) * s + 1 for n, s in zip(array.shape[lead:], steps))
    out = np.full(shape, 0, dtype=object)
    out[(slice(None),) * lead + tuple(slice(None, None, s) for s in steps)] = array
    return out


def slices(spec):
    """``(n, c, f)`` of every slice pictured: c and f in the same group."""
    per_group_c, per_group_f = spec.input[1] // spec.groups, spec.weight[0] // spec.groups
    return [(n, c, f) for n in range(spec.input[0]) for c in range(spec.input[1])
            for f in range(spec.weight[0]) if c // per_group_c == f // per_group_f]


def check_picture_size(spec, arrays, chosen) -> None:
    """Refuse matrix pictures too large to read: an array of ``arrays`` over :data:`MAX_SIDE` on a side,
    or over :data:`MAX_SLICES` (n, c, f) slices in ``chosen``."""
    sides = max(max(a.shape[2:]) for a in arrays)
    if sides > MAX_SIDE:
        raise SymconvError(
            f"input: got {','.join(map(str, spec.input))}, whose pictures need {sides} rows or columns "
            f"per slice; expected at most {MAX_SIDE} for --form matrix"
        )
    if len(chosen) > MAX_SLICES:
        raise SymconvError(
            f"slices: got {len(chosen)} (n, c, f) slices for input {','.join(map(str, spec.input))} and "
            f"weight {','.join(map(str, spec.weight))}; expected at most {MAX_SLICES} for --form matrix"
        )


def pictures(spec):
    """The matrices of every slice: ``{(n, c, f): {"x": ..., "dy": ..., "dy~": ..., "w_rot": ...}}``.

    ``dw`` is ``x * dy`` read every D; ``dx`` is ``dy~ * w_rot`` (all 2-D
    object arrays, 1-D layers as columns). Raises :class:`SymconvError` for
    a layer too large to draw.
    """
    dy, x, w = symbolic_tensors(spec)
    tilde, rot, padded = spread_dy(spec, dy), rotate_w(spec, w), pad_x(spec, x)
    rot = spread(rot, spec.dilation)
    stretched = spread(dy, spec.stride)
    chosen = slices(spec)
    check_picture_size(spec, (tilde, padded, stretched, rot), chosen)
    per_group = spec.weight[0] // spec.groups

    def column(a):
        return a.reshape(-1, 1) if a.ndim == 1 else a

    return {
        (n, c, f): {"x": column(padded[n, c]), "dy": column(stretched[n, f]),
                    "dy~": column(tilde[n, f]), "w_rot": column(rot[c, f % per_group])}
        for n, c, f in chosen
    }


def jacobian(derivation, tensor: str, n: int, c: int, f: int) -> Matrix:
    """``dy_{n,f} / d tensor`` as a matrix, differentiated from the forward (seed 000's banded matrix)."""
    spec = derivation.spec
    outputs = spec.output_shape[2]
    if tensor == "x":
        columns = [element("x", (n, c, h)) for h in range(spec.input[2])]
    else:
        columns = [element("w", (f, c % spec.weight[1], k)) for k in range(spec.weight[2])]
    return Matrix([[diff(derivation.forward[(n, f, o)], a) for a in columns] for o in range(outputs)])
