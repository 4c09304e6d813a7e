"""SymPy's ``str()`` of a table whose terms hold more than tensor elements, without SymPy.

A term is ``c * f_1 * ... * f_k``: a rational ``c`` (a constant of the
space, or 1), at most one factor of a family (:mod:`symconv.symbolic.atoms`)
and tensor elements. SymPy prints it as its ``StrPrinter`` prints a ``Mul``:
the factors in ``sort_key`` order (every ``Piecewise`` before every
``Indexed``, elements by their printed names), joined by ``*``, with ``p*``
in front and ``/q`` behind for the coefficient ``p/q`` and a leading ``-``
for a negative one; and a sum's terms in the order of their monomials over
all factors sorted the same way (:meth:`TermTable.ordered
<symconv.symbolic.terms.TermTable.ordered>` with :func:`str_rank`), joined by
`` + `` or `` - ``. Tests hold every string equal to ``str()`` of the
expression the table stands for.
"""

from __future__ import annotations

import numpy as np

from symconv.symbolic.atoms import rational_str
from symconv.symbolic.space import NO_FACTOR


def str_rank(space) -> np.ndarray:
    """Rank of every id in SymPy's order of factors: family factors first, then elements; constants last."""
    return space.cached("str_rank", _str_rank)


def _str_rank(space) -> np.ndarray:
    atoms = space.constant_offset - space.size
    rank = np.empty(space.total, dtype=np.int64)
    rank[: space.size] = space.string_rank + atoms
    for family, offset in zip(space.families, space.family_offsets):
        rank[offset: offset + family.size] = family.sort_ranks(space) + (offset - space.size)
    rank[space.constant_offset:] = space.size + atoms
    return rank


def factor_names(space) -> np.ndarray:
    """SymPy's ``str`` of every id (constants print as coefficients, so as ``""`` here)."""
    return space.cached("factor_names", _factor_names)


def _factor_names(space) -> np.ndarray:
    names = np.empty(space.total, dtype=object)
    names[: space.size] = space.strings
    for family, offset in zip(space.families, space.family_offsets):
        names[offset: offset + family.size] = family.str_texts(space)
    names[space.constant_offset:] = ""
    return names


def coefficients(rows, space) -> np.ndarray:
    """Index into ``space.constants`` of each row's one constant factor, -1 for none."""
    constant = rows >= space.constant_offset
    if (constant.sum(axis=1) > 1).any():
        raise ValueError("a term holds two constants; multiply them into one")
    found = constant.any(axis=1)
    picked = np.where(constant, rows, 0).max(axis=1) if rows.shape[1] else np.zeros(len(rows), np.int64)
    return np.where(found, picked - space.constant_offset, -1)


def coefficient_parts(value) -> tuple[str, str]:
    """``(before, after)`` the factors in ``str`` of ``value * factors``: ``("-2*", "/3")``."""
    sign = "-" if value < 0 else ""
    p, q = abs(value.numerator), value.denominator
    return sign + ("" if p == 1 else f"{p}*"), ("" if q == 1 else f"/{q}")


def product_texts(rows, names, joiner: str, skip_from: int) -> np.ndarray:
    """Each row's factors' ``names`` joined by ``joiner``, ids at or above ``skip_from`` (constants) left out."""
    texts = np.full(len(rows), "", dtype=object)
    started = np.zeros(len(rows), dtype=bool)
    glued = None
    for column in range(rows.shape[1]):
        ids = rows[:, column]
        used = (ids != NO_FACTOR) & (ids < skip_from)
        fresh, more = used & ~started, used & started
        texts[fresh] = names[ids[fresh]]
        if more.any():
            if glued is None:
                glued = np.full(len(names), None, dtype=object)
            wanted = np.zeros(len(names), dtype=bool)  # (np.unique would load numpy.ma: 15 ms of start-up)
            wanted[ids[more]] = True
            missing = np.nonzero(wanted & np.equal(glued, None))[0]
            glued[missing] = joiner + names[missing]
            texts[more] = texts[more] + glued[ids[more]]
        started |= used
    return texts


def general_str_entries(table) -> list[str]:
    """Every entry of ``table`` as SymPy's ``str()`` prints it, row-major; ``"0"`` if empty."""
    space = table.space
    rows, bounds = table.ordered(str_rank(space))
    texts = product_texts(rows, factor_names(space), "*", space.constant_offset)
    which = coefficients(rows, space)
    negative = False
    for k, value in enumerate(space.constants):
        mine = which == k
        if value == 1 or not mine.any():
            continue
        before, after = coefficient_parts(value)
        texts[mine] = before + texts[mine] + after
        negative |= value < 0
    texts = texts.tolist()
    starts, stops = bounds[:-1].tolist(), bounds[1:].tolist()
    if not negative:
        return [" + ".join(texts[a:b]) if a < b else "0" for a, b in zip(starts, stops)]
    out = []
    for a, b in zip(starts, stops):
        if a == b:
            out.append("0")
            continue
        line = texts[a]
        for text in texts[a + 1:b]:
            line += " - " + text[1:] if text.startswith("-") else " + " + text
        out.append(line)
    return out


__all__ = ["str_rank", "factor_names", "coefficients", "coefficient_parts", "product_texts",
           "general_str_entries", "rational_str"]
