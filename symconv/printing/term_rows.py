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
    """Per factor of a Step or Ramp family: ``(texts, brackets)``, one of them None.

    ``texts`` stand among a term's factors (a leaky ReLU's pieces, a ReLU's
    ``max(x, 0)``); ``brackets`` are an indicator's inside (``x > 0``).
    """
    z = names[family.args].tolist()
    slope = family.slope
    if isinstance(family, Ramp):
        if slope == 0:
            return [spelling["max"] % (t + ", 0") for t in z], None
        return [_pieces(kind, t, t + " > 0", _times(kind, slope, t)) for t in z], None
    if slope == 0:
        return None, [t + " > 0" for t in z]
    otherwise = _latex_rational(slope) if kind == "latex" else rational_str(slope)
    return [_pieces(kind, "1", t + " > 0", otherwise) for t in z], None


def general_rows(lhs: str, table, printer):
    """``(lhs text, [signed term texts])`` per entry, as :func:`symconv.printing.latex.table_rows` gives them."""
    try:
        return _rows(lhs, table, printer)
    except Unsupported:
        from symconv.printing.sympy_printers import printer_for

        sympy_printer = printer_for(printer)
        return [(printer.lhs_text(lhs, index), sympy_printer.signed_terms(expr)) for index, expr in table.items()]


def _element_names(space, printer):
    return np.array([t for name, shape in space.shapes.items() for t in printer.element_texts(name, shape)] + [""],
                    dtype=object)


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
    constant = coefficients(rows, space)  # index into space.constants, -1 for a coefficient of 1
    values = list(space.constants)

    # the elements of each term in SymPy's order (by printed name)
    names = _element_names(space, printer)
    keys = np.where(element, space.string_rank[np.where(element, rows, 0)], big)
    by_name = np.take_along_axis(np.where(element, rows, NO_FACTOR), np.argsort(keys, axis=1, kind="stable"), 1)
    joiner = "*" if kind == "text" else " "
    text = product_texts(by_name, names, joiner, space.size)
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
            if isinstance(family, Ramp) and ((count[inside] > 0).any() or (constant[inside] >= 0).any()):
                raise Unsupported  # a ramp is a whole output; symconv never multiplies it
            texts, brackets = _family_texts(family, kind, names, spelling)
            if texts is not None:
                first[inside] = np.array(texts, dtype=object)[k]
            else:
                bracket[inside] = np.array(brackets, dtype=object)[k]
        else:
            raise Unsupported
    if ((winner >= 0) & np.equal(bracket, None) & ~_max_terms(winner, count, by_name, constant)).any():
        raise Unsupported  # an indicator with no upstream gradient to name its winner after, outside a max
    lead = ~np.equal(first, None)
    if lead.any():
        wrapped = first[lead]
        if kind == "latex":  # a cases environment before other factors is bracketed
            wrapped = np.where(text[lead] != "", spelling["open"] + wrapped + spelling["close"], wrapped)
        text[lead] = np.where(text[lead] != "", wrapped + joiner + text[lead], wrapped)
    if (text == "").any():
        raise Unsupported

    # the terms with their coefficient, and with 1 (when the entry's common factor is taken out)
    unit = text.copy()
    scaled = text.copy()
    negative = np.zeros(len(rows), dtype=bool)
    for k, value in enumerate(values):
        mine = constant == k
        if mine.any() and value != 1:
            before, after = _coefficient_parts(kind, abs(value))
            scaled[mine] = before + scaled[mine] + after
            negative[mine] = value < 0
    has_bracket = ~np.equal(bracket, None)
    if has_bracket.any():
        left, right = spelling["bracket"].split("%s")
        tail = left + bracket[has_bracket] + right
        unit[has_bracket] = unit[has_bracket] + tail
        scaled[has_bracket] = scaled[has_bracket] + tail

    # entry by entry: a window's max, a common factor taken out, or the terms with their signs
    starts, stops = bounds[:-1], bounds[1:]
    sizes = stops - starts
    filled = sizes > 0
    at = np.minimum(starts, max(len(rows) - 1, 0))
    is_max = _max_terms(winner, count, by_name, constant)
    entry_max = filled & (sizes > 1) & _all_per_entry(is_max, starts, sizes)
    codes = np.where(constant < 0, len(values), constant)
    same = filled & (_reduce(np.minimum, codes, starts, sizes) == _reduce(np.maximum, codes, starts, sizes))
    # or one size up to sign (a loss's 1/3 y - 1/3 t): the size is taken out, the signs stay with the terms
    magnitudes = sorted({abs(v) for v in values} | {1})
    size_codes = np.array([magnitudes.index(abs(v)) for v in values] + [magnitudes.index(1)])[codes]
    one_size = filled & (_reduce(np.minimum, size_codes, starts, sizes) == _reduce(np.maximum, size_codes, starts, sizes))
    one = np.array([v in (1, -1) for v in values] + [True])
    shared = (same | one_size) & (sizes > 1) & ~one[codes[at]] & ~entry_max
    common = shared & same
    by_size = shared & ~same
    in_common = np.repeat(common, sizes)
    in_size = np.repeat(by_size, sizes)
    position = np.arange(len(rows)) - np.repeat(starts, sizes)
    signs = np.where(negative & ~in_common, "- ", np.where(position > 0, "+ ", "")).astype(object)
    signed = (signs + np.where(in_common | in_size, unit, scaled)).tolist()
    element_names = names[np.maximum(by_name[:, 0], 0)].tolist() if len(rows) else []
    out = []
    for head, a, b, size, e_max, e_shared in zip(printer.lhs_texts(lhs, table.shape), starts.tolist(),
                                                 stops.tolist(), sizes.tolist(), entry_max.tolist(), shared.tolist()):
        if not size:
            out.append((head, ["0"]))
        elif e_max:
            out.append((head, [spelling["max"] % ", ".join(element_names[a:b])]))
        else:
            terms = signed[a:b]
            if e_shared:
                value = values[int(codes[a])]
                value = value if common[len(out)] else abs(value)
                terms[0] = _factor_text(spelling, value) + "(" + terms[0]
                terms[-1] += ")"
            out.append((head, terms))
    return out


def _factor_text(spelling, value) -> str:
    """A common rational factor in front of an entry's bracket, as the SymPy printers' ``factor_text`` writes it."""
    if value.denominator == 1:
        return spelling["integer"].format(p=value.numerator)
    return spelling["factor"].format(p=value.numerator, q=value.denominator)


def _coefficient_parts(kind, value):
    """``(before, after)`` the factors of a term times the positive rational ``value``."""
    p, q = value.numerator, value.denominator
    if kind == "text":
        return ("" if p == 1 else f"{p}*"), ("" if q == 1 else f"/{q}")
    if q == 1:
        return ("" if p == 1 else f"{p} "), ""
    return r"\frac{" + ("" if p == 1 else f"{p} "), "}{%d}" % q


def _max_terms(winner, count, by_name, constant):
    """Terms ``x * [x wins]`` (a max pool's forward): an indicator times its own winner alone."""
    return (winner >= 0) & (count == 1) & (by_name[:, 0] == winner) & (constant < 0)


def _reduce(function, values, starts, sizes):
    out = np.zeros(len(starts), dtype=values.dtype)
    filled = sizes > 0
    if filled.any():
        out[filled] = function.reduceat(values, starts[filled])
    return out


def _all_per_entry(flags, starts, sizes):
    return _reduce(np.minimum, flags.astype(np.int64), starts, sizes).astype(bool)


def _winner_brackets(rows, element, winners, space, names, printer):
    """``x[1] = m[0]``: the winner, and m named after the one upstream gradient element of the term.

    None for a term without exactly one upstream element (a forward's
    ``x * [x wins]``, written as part of a max).
    """
    owners = space.owner(np.where(element, rows, 0))
    upstream = np.array([n.startswith("d") for n in space.names] + [False])
    marked = element & upstream[owners]
    alone = marked.sum(axis=1) == 1
    out = np.full(len(rows), None, dtype=object)
    if not alone.any():
        return out
    dy = np.where(marked, rows, -1).max(axis=1)[alone]
    tensor = space.owner(dy)
    texts = np.full(len(dy), None, dtype=object)
    for position in sorted(set(tensor.tolist())):  # (np.unique would load numpy.ma)
        name = space.names[position]
        m = np.array(printer.element_texts("m" + split_name(name)[1], space.shapes[name]), dtype=object)
        mine = tensor == position
        texts[mine] = m[dy[mine] - space.offsets[name]]
    out[alone] = names[winners[alone]] + " = " + texts
    return out
