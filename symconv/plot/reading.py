"""What the pictures show, read off a derivation: Jacobian sparsity and the terms of one gradient entry.

Nothing here recomputes a gradient from a formula: the sparsity comes from
the forward's term table (or the atoms of the SymPy expressions) and the
routing from the atoms of ``derivation.gradients[...][index]``. Only NumPy
and SymPy are needed.
"""

from __future__ import annotations

import math

import numpy as np

from symconv.errors import SymconvError

#: Largest Jacobian side drawn: a bigger one is a grey square at any resolution.
MAX_JACOBIAN_SIDE = 4096


def shape_of(derivation, name):
    return derivation.spec.output_shape if name == "dy" else derivation.shapes[name]


def check_weighted(spec) -> None:
    """Refuse a layer these pictures cannot show: they draw dy/dx beside dy/dw, so a layer with weights.

    (A max pool's pictures, which depend on x's values, are :mod:`symconv.plot.pool`'s.)
    """
    if spec.is_stack or "w" not in spec.parameters:
        raise SymconvError(
            f"layer: got {spec.kind}, expected a layer with weights (a convolution) for the Jacobian and routing "
            f"pictures; a max pool's are symconv.plot.pool's"
        )


def check_jacobian_size(spec) -> None:
    """Refuse, before deriving, a Jacobian too large to draw (or a layer without weights)."""
    check_weighted(spec)
    rows = math.prod(spec.output_shape)
    for name, shape in (("x", spec.input), ("w", spec.weight)):
        columns = math.prod(shape)
        if max(rows, columns) > MAX_JACOBIAN_SIDE:
            raise SymconvError(
                f"plot: got a Jacobian dy/d{name} of {rows}x{columns}, expected at most "
                f"{MAX_JACOBIAN_SIDE} rows and columns; expected a smaller layer"
            )


def jacobian_sparsity(derivation, wrt: str) -> np.ndarray:
    """Boolean matrix: ``[i, j]`` is true when output ``y_i`` contains element ``j`` of ``wrt``.

    Rows and columns are row-major flat indices. Every coefficient of a
    convolution's forward is 1, so "contains" is "dy_i/da_j is not zero".
    Read from the forward's term table, or from the atoms of each expression
    when the forward is a mapping of SymPy expressions.
    """
    from symconv.symbolic.terms import TermTable

    shape = derivation.shapes[wrt]
    matrix = np.zeros((math.prod(derivation.spec.output_shape), math.prod(shape)), dtype=bool)
    forward = derivation.forward
    if isinstance(forward, TermTable):
        offset = forward.space.offsets[wrt]
        for slot in range(forward.factors.shape[1]):
            ids = forward.factors[:, slot]
            mine = (ids >= offset) & (ids < offset + matrix.shape[1])
            matrix[forward.entry[mine], ids[mine] - offset] = True
        return matrix
    from sympy import Indexed

    for row, expr in enumerate(forward[index] for index in np.ndindex(*derivation.spec.output_shape)):
        for atom in expr.atoms(Indexed):
            if atom.base.name == wrt:
                matrix[row, np.ravel_multi_index(tuple(int(i) for i in atom.indices), shape)] = True
    return matrix


def check_index(derivation, name, at):
    shape = shape_of(derivation, name)
    at = tuple(int(i) for i in at)
    if len(at) != len(shape) or any(not 0 <= i < s for i, s in zip(at, shape)):
        raise SymconvError(
            f"at: got {at}, expected a 0-based index of {name} with shape {tuple(shape)}"
        )
    return at


def gradient_terms(derivation, at, of: str = "dx"):
    """The terms of ``derivation.gradients[of][at]`` in reading order, each as its elements.

    >>> from symconv.spec.conv import conv_spec
    >>> from symconv.engine.derive import derive
    >>> d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
    >>> gradient_terms(d, (0, 0, 1))
    [[('dy', (0, 0, 0)), ('w', (0, 0, 1))], [('dy', (0, 0, 1)), ('w', (0, 0, 0))]]
    """
    from sympy import Add, Indexed, Mul

    from symconv.printing.present import display_key

    if of not in derivation.gradients:
        raise SymconvError(f"of: got {of!r}, expected one of {', '.join(derivation.gradients)}")
    expr = derivation.gradients[of][check_index(derivation, of[1:], at)]
    terms = []
    for term in sorted(Add.make_args(expr), key=display_key):
        factors = [f for f in Mul.make_args(term) if isinstance(f, Indexed)]
        terms.append([(f.base.name, tuple(int(i) for i in f.indices)) for f in factors])
    return [t for t in terms if t]


def gradient_routing(derivation, at, of: str = "dx") -> dict[str, np.ndarray]:
    """For x, w and dy, a boolean array marking the elements in ``gradients[of][at]``.

    These are exactly the atoms of the derived SymPy expression: for dx the
    dy and w entries of its sum (x itself has none), for dw the dy and x.
    """
    check_weighted(derivation.spec)
    if of not in ("dx", "dw"):
        raise SymconvError(f"of: got {of!r}, expected dx or dw")
    highlighted = {name: np.zeros(shape_of(derivation, name), dtype=bool) for name in ("x", "w", "dy")}
    for term in gradient_terms(derivation, at, of):
        for name, index in term:
            highlighted[name][index] = True
    return highlighted
