r"""LaTeX and text rows of a table whose terms hold more than elements: pools, activations, the mean's 1/N.

A term of such a :class:`~symconv.symbolic.terms.TermTable` is a rational
coefficient (a constant of its space, or 1), at most one factor of a family
(:mod:`symconv.symbolic.atoms`) and tensor elements. This module writes
every entry exactly as the SymPy printers in symconv's notation
(:mod:`symconv.printing.sympy_printers`) write the expression the entry
stands for, without building it:

* a sum's terms in reading order (by their elements' display rank: dy, then
  w, then x), a common rational coefficient taken out: ``1/4*(x[0] + x[1])``;
* within a term, SymPy's order of factors (a ``Piecewise`` first, elements
  by printed name) and SymPy's way with a coefficient: ``dy[0]/3``,
  ``\frac{dy_{0}}{3}``;
* a 0/1 indicator as an Iverson bracket after the rest of its term:
  ``dy[0]*[x[1] = m[0]]`` for a max pool's winner (named after the dy it
  multiplies), ``dy_{1}\,[x_{1} > 0]`` for a ReLU's mask;
* a max pool's forward as ``max(...)`` of its window, a ReLU's as
  ``max(x, 0)``, a leaky ReLU's pieces as ``(x if x > 0 else x/10)`` or a
  ``cases`` environment.

Tests hold the rows equal to the SymPy printers' on a grid of layers; a
table of any other shape is handed to the SymPy printer.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symconv.printing.present import display_rank, split_name
from symconv.symbolic.atoms import FirstMaximum, Ramp, Step, rational_str
from symconv.symbolic.space import NO_FACTOR
from symconv.symbolic.strs import coefficients, product_texts


class Unsupported(Exception):
    """A table with terms of a shape this module does not write (the SymPy printer does)."""


def _latex_rational(value) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return ("- " if value < 0 else "") + r"\frac{%d}{%d}" % (abs(value.numerator), value.denominator)


def _times(kind: str, value, texts):
    """``value * factors`` as SymPy's printers write a Mul, ``texts`` the factors already joined."""
    sign = ("- " if kind == "latex" else "-") if value < 0 else ""
    p, q = abs(value.numerator), value.denominator
    if kind == "text":
        return sign + ("" if p == 1 else f"{p}*") + texts + ("" if q == 1 else f"/{q}")
    numerator = ("" if p == 1 else f"{p} ") + texts
    return sign + (numerator if q == 1 else r"\frac{" + numerator + "}{%d}" % q)


def _pieces(kind: str, value, condition, otherwise) -> str:
    """``Piecewise((value, condition), (otherwise, True))`` as the printers write it."""
    if kind == "text":
        return f"({value} if {condition} else {otherwise})"
    return r"\begin{cases} %s & \text{for}\: %s \\%s & \text{otherwise} \end{cases}" % (value, condition, otherwise)


def _family_texts(family, kind, names, spelling):
    """Per factor of a Step or Ramp family: ``(text, bracket)`` (bracket: an indicator's inside, else None)."""
    z = names[family.args]
    slope = family.slope
    if isinstance(family, Ramp):
        if slope == 0:
            return [spelling["max"] % (t + ", 0") for t in z.tolist()], None
        lows = [_times(kind, slope, t) for t in z.tolist()]
        return [_pieces(kind, t, t + " > 0", low) for t, low in zip(z.tolist(), lows)], None
    if slope == 0:
        return None, [t + " > 0" for t in z.tolist()]
    otherwise = _latex_rational(slope) if kind == "latex" else rational_str(slope)
    return [_pieces(kind, "1", t + " > 0", otherwise) for t in z.tolist()], None


def general_rows(lhs: str, table, printer):
    """``(lhs text, [signed term texts])`` per entry, as :func:`symconv.printing.latex.table_rows` gives them."""
    try:
        return _rows(lhs, table, printer)
    except Unsupported:
        from symconv.printing.sympy_printers import printer_for

        sympy_printer = printer_for(printer)
        return [(printer.lhs_text(lhs, index), sympy_printer.signed_terms(expr)) for index, expr in table.items()]


def _rows(lhs, table, printer):
    space, kind, spelling = table.space, printer.kind, printer.SPELLING
    big = np.int64(3 * space.total + 3)
    display = np.full(space.total, big - 1, dtype=np.int64)
    display[: space.size] = display_rank(space)
    rows, bounds = table.ordered(display)
    element = (rows != NO_FACTOR) & (rows < space.size)
    atom = (rows >= space.size) & (rows < space.constant_offset)
    if (atom.sum(axis=1) > 1).any():
        raise Unsupported
    atom_id = np.where(atom, rows, -1).max(axis=1) if rows.shape[1] else np.full(len(rows), -1)
    constant = coefficients(rows, space)
    values = list(space.constants) + [1]
    coefficient = [Fraction(values[k]) for k in constant.tolist()]

    # the elements of each term in SymPy's order (by printed name)
    names = np.array([printer.element_text(n, i) for _, n, i in space.each()] + [""], dtype=object)
    keys = np.where(element, space.string_rank[np.where(element, rows, 0)], big)
    by_name = np.take_along_axis(np.where(element, rows, NO_FACTOR), np.argsort(keys, axis=1, kind="stable"), 1)
    joiner = "*" if kind == "text" else " "
    core = product_texts(by_name, names, joiner, space.size)
    count = element.sum(axis=1)

    # each term's family factor: a text standing first among its factors, or a bracket after them
    first = np.full(len(rows), None, dtype=object)
    bracket = np.full(len(rows), None, dtype=object)
    winner = np.full(len(rows), -1, dtype=np.int64)
    for family, offset in zip(space.families, space.family_offsets):
        inside = (atom_id >= offset) & (atom_id < offset + family.size)
        if not inside.any():
            continue
        k = atom_id[inside] - offset
        if isinstance(family, FirstMaximum):
            winner[inside] = family.windows.reshape(-1)[k]
            bracket[inside] = _winner_brackets(rows[inside], element[inside], winner[inside], space, names, printer)
        elif isinstance(family, Step):
            texts, brackets = _family_texts(family, kind, names, spelling)
            if texts is not None:
                first[inside] = np.array(texts, dtype=object)[k]
            else:
                bracket[inside] = np.array(brackets, dtype=object)[k]
            if isinstance(family, Ramp) and ((count[inside] > 0).any() or any(coefficient[i] != 1 for i in
                                                                                np.nonzero(inside)[0])):
                raise Unsupported
        else:
            raise Unsupported

    def term(i, value) -> str:
        text = core[i]
        if first[i] is not None:
            lead = first[i]
            if text and kind == "latex":
                lead = spelling["open"] + lead + spelling["close"]
            text = lead + joiner + text if text else lead
        if not text:
            raise Unsupported
        text = _times(kind, value, text) if value != 1 else text
        if winner[i] >= 0 and bracket[i] is None:
            raise Unsupported  # an indicator with no upstream gradient to name its winner after
        if bracket[i] is not None:
            text += spelling["bracket"] % bracket[i]
        return text

    out = []
    starts, stops = bounds[:-1].tolist(), bounds[1:].tolist()
    for index, a, b in zip(table, starts, stops):
        head = printer.lhs_text(lhs, index)
        if a == b:
            out.append((head, ["0"]))
            continue
        span = range(a, b)
        if b - a > 1 and all(winner[i] >= 0 and count[i] == 1 and by_name[i, 0] == winner[i] and coefficient[i] == 1
                             for i in span):
            taken = sorted(int(winner[i]) for i in span)
            out.append((head, [spelling["max"] % ", ".join(names[taken].tolist())]))
            continue
        shared = {coefficient[i] for i in span}
        common = shared.pop() if len(shared) == 1 and b - a > 1 else None
        if common in (1, -1):
            common = None
        texts = []
        for position, i in enumerate(span):
            value = Fraction(1) if common is not None else coefficient[i]
            sign = "- " if value < 0 else ("+ " if position else "")
            texts.append(sign + term(i, abs(value)))
        if common is not None:
            texts[0] = spelling["factor"].format(p=common.numerator, q=common.denominator) + "(" + texts[0]
            texts[-1] += ")"
        out.append((head, texts))
    return out


def _winner_brackets(rows, element, winners, space, names, printer):
    """``x[1] = m[0]``: the winner, and m named after the one upstream gradient element of the term.

    None for a term without exactly one upstream element (a forward's
    ``x * [x wins]``, written as part of a max).
    """
    owners = space.owner(np.where(element, rows, 0))
    upstream = np.array([space.names[o].startswith("d") for o in range(len(space.names))] + [False])
    marked = element & upstream[owners]
    dy = np.where(marked, rows, -1).max(axis=1)
    out = np.full(len(rows), None, dtype=object)
    for row, (w, u) in enumerate(zip(winners.tolist(), dy.tolist())):
        if marked[row].sum() == 1:
            name, index = space.locate(u)
            out[row] = names[w] + " = " + printer.element_text("m" + split_name(name)[1], index)
    return out
