r"""The operator document: dx, dw and db of a convolution as the identities of :mod:`symconv.formula.operators`.

It writes the identities with the layer's numbers, each followed by indented
lines that say in plain words what each of its names means (dy~ is dy with
zeros inserted between its entries...), then every gradient entry as the
identities compute it, and says whether each equals the chain-rule derivation.

>>> from symconv.engine.derive import derive
>>> from symconv.spec.conv import conv_spec
>>> text = operator_document(derive(conv_spec("conv1d", (1, 1, 5), (1, 1, 2), stride=2)), "text")
>>> print(*text.splitlines()[3:9], sep="\n")
  dx = conv_transpose(dy, w; stride 2, padding 0, dilation 1, output_padding 1)
     = dy~ (*)_1 w_rot
    dy~: dy with 1 zero inserted between neighbouring entries (stride 2), placed in a row of 6 zeros per slice: dy[..., i] goes to 2*i + 1
    w_rot: w turned by 180 degrees, filters and channels swapped: w_rot[c, f, k] = w[f, c, K-1-k]
    (*)_1: w_rot slides over dy~ one position at a time, its taps next to each other (dilation 1)
    output_padding: the 1 position of the padded input after the last window, which the output size alone cannot tell
"""

from __future__ import annotations

from sympy import expand

from symconv.errors import SymconvError
from symconv.names import OUTPUT_LETTERS
from symconv.formula.operators import dy_placement, operator_gradients, output_padding, padded_layer, symbolic_tensors
from symconv.formula.transpose_operators import transpose_gradients
from symconv.layers import rule_for
from symconv.printing import transpose_document
from symconv.printing.present import check_form, choose_style, describe


def _axes(values):
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else "(" + ", ".join(values) + ")"


def _affine(slope, var, offset, times):
    """``2 i + 1``, ``i - 1``, ``3 i``: a position, ``times`` between the slope and the variable."""
    term = var if slope == 1 else f"{slope}{times}{var}"
    return term if offset == 0 else f"{term} {'+' if offset > 0 else '-'} {abs(offset)}"


#: Per number of spatial axes: the index letters, and the kernel sizes as LaTeX and as text.
_LETTERS = {1: (OUTPUT_LETTERS[1], ("k",), ("K",), ("K",)),
            2: (OUTPUT_LETTERS[2], ("k", "l"), ("K_H", "K_W"), ("KH", "KW")),
            3: (OUTPUT_LETTERS[3], ("r", "k", "l"), ("K_D", "K_H", "K_W"), ("KD", "KH", "KW"))}


def _one(values) -> str:
    """``2`` when every axis has 2, else ``(2, 3)``."""
    values = list(values)
    return str(values[0]) if len(set(values)) == 1 else _axes(values)


def _plural(values, noun: str) -> str:
    """``1 zero``, ``2 zeros``, ``(1, 2) zeros``."""
    values = list(values)
    return f"{_one(values)} {noun}" + ("" if len(set(values)) == 1 and values[0] == 1 else "s")


#: The names the identity lines explain, as LaTeX (inside ``\text``) and as text.
_NAMES = {
    "tex": {"tilde": r"$\widetilde{dy}$", "rot": r"$w^{\mathrm{rot}}$", "pad": r"$x^{\mathrm{pad}}$",
            "dy": "$dy$", "x": "$x$", "w": "$w$", "f": "$f$", "op": r"output\_padding"},
    "text": {"tilde": "dy~", "rot": "w_rot", "pad": "x_pad", "dy": "dy", "x": "x", "w": "w", "f": "f",
             "op": "output_padding"},
}


def _words(spec, padded_by=None):
    """The plain-English sentences, templates of :data:`_NAMES` and ``tilde_at``/``rot_at``.

    A ``|`` marks where a LaTeX row may end (the text has one line per sentence).
    ``padded_by`` is the layer whose padding mode padded x into ``spec``'s input.
    """
    ones = lambda values: all(v == 1 for v in values)  # noqa: E731
    reach = [d * (k - 1) for d, k in zip(spec.dilation, spec.weight[2:])]
    stride, dilation, op = spec.stride, spec.dilation, output_padding(spec)
    grid = "x".join(str(h + r) for h, r in zip(spec.input[2:], reach))
    article = "an" if grid.startswith("8") or grid.split("x")[0] in ("11", "18") else "a"  # an 8x8 grid
    grid = f"a row of {grid} zeros" if spec.ndim == 1 else f"{article} {grid} grid of zeros"
    between = "nothing inserted between its entries" if ones(stride) else \
        _plural((s - 1 for s in stride), "zero") + " inserted between neighbouring entries"
    tilde = f"{{dy}} with {between} (stride {_one(stride)}), |placed in {grid} per slice: {{tilde_at}}"
    dropped = any(lo > r or (o - 1) * s + r - lo > h + r - 1
                  for r, (lo, _), o, s, h in zip(reach, spec.padding, spec.output_shape[2:], stride, spec.input[2:]))
    if dropped:
        tilde += "; |the entries that land outside it are dropped (their windows lie wholly in the padding)"
    taps = "next to each other" if ones(dilation) else f"{_one(dilation)} apart"
    slide = f"{{rot}} slides over {{tilde}} one position at a time, its taps {taps} (dilation {_one(dilation)})"
    front = [lo for lo, _ in spec.padding]
    padded = "x".join(str((o - 1) * st + r + 1) for o, st, r in zip(spec.output_shape[2:], stride, reach))
    read = [(o - 1) * st + r + 1 for o, st, r in zip(spec.output_shape[2:], stride, reach)]
    pad = "{x} with no padding in front" if not any(front) else \
        f"{{x}} with {_plural(front, 'zero')} of padding in front"
    pad += f", |over the {padded} positions the windows read"
    if padded_by is not None:
        before, after = ([pair[side] for pair in padded_by.padding] for side in (0, 1))
        pad = (f"{{x}} padded with its own entries ({padded_by.padding_mode}), {_one(before)} in front and "
               f"{_one(after)} after, |over the {padded} positions the windows read")
    if any(length > lo + h for length, lo, h in zip(read, front, spec.input[2:])):
        pad += " (with zeros past its end)"
    if any(length < lo + h for length, lo, h in zip(read, front, spec.input[2:])):
        pad += " (the rest of {x} is never read)"
    apart = "next to each other" if ones(stride) else f"{_one(stride)} apart"
    kept = "every result is kept" if ones(dilation) else f"only one result in {_one(dilation)} is kept"
    kernel = f"{{dy}} is the kernel, its entries {apart} (stride {_one(stride)}), |and {kept} (dilation {_one(dilation)})"
    return {"tilde": tilde, "rot": "{w} turned by 180 degrees, filters and channels swapped: {rot_at}",
            "slide": slide, "pad": pad, "kernel": kernel, "db": "every entry of {dy} for filter {f}, added up",
            "op": f"the {_plural(op, 'position')} of the padded input after the last window, "
                  "|which the output size alone cannot tell"}


#: Where a padding mode's padded entry comes from, in words.
_COPIES = {"reflect": "mirrored about the edge, the edge itself not repeated", "replicate": "the edge entry",
           "circular": "wrapped around from the other end"}


def _fold_lines(spec):
    """The rows of a padding mode's fold: dx from the padded input's gradient."""
    mode = spec.padding_mode
    words = (f"the interior of {{dxp}} is {{dx}}; each of its padded entries is added onto the entry of {{x}} "
             f"it copies |({mode}: {_COPIES[mode]})")
    first, rest = (part.rstrip() for part in words.format(dxp=r"$dx^{\mathrm{pad}}$", dx="$dx$", x="$x$").split("|"))
    fold_tex = r"\operatorname{fold}_{\mathrm{%s}}" % mode
    return [(r"dx = %s(dx^{\mathrm{pad}})" % fold_tex, f"dx = fold_{mode}(dx_pad)"),
            (r"\qquad %s\colon\ \text{%s}" % (fold_tex, first),
             f"  fold_{mode}: " + words.format(dxp="dx_pad", dx="dx", x="x").replace("|", "")),
            (r"\qquad\qquad \text{%s}" % rest, None)]


def _identity_lines(spec, index_base: int = 0, padded_by=None):
    """``(LaTeX, text)`` rows: each identity with this layer's numbers, then what each name in it means.

    Indices count from ``index_base``; the meanings are plain sentences. A
    padding mode other than zeros gives the fold first, then the identities
    of the same layer on the padded input (``padded_by`` the layer itself).
    """
    if spec.padding_mode != "zeros":
        return _fold_lines(spec) + _identity_lines(padded_layer(spec), index_base, padded_by=spec)
    outs, taps, kernels_tex, kernels_text = _LETTERS[spec.ndim]
    pads = _axes(lo for lo, _ in spec.padding) if all(lo == hi for lo, hi in spec.padding) \
        else _axes(f"{lo}/{hi}" for lo, hi in spec.padding)
    s, d, op = _axes(spec.stride), _axes(spec.dilation), _axes(output_padding(spec))
    placement = list(zip(dy_placement(spec, index_base), outs))
    where_tex = _axes(_affine(slope, v, offset, r"\,") for (slope, offset), v in placement)
    where_text = _axes(_affine(slope, v, offset, "*") for (slope, offset), v in placement)
    # w_rot[c, f, k] = w[f, c, K-1-k] counted from 0; from 1, K+1-k.
    flip = "-1-" if index_base == 0 else "+1-"
    rot_tex = ",".join(kernel + flip + tap for kernel, tap in zip(kernels_tex, taps))
    rot_text = ", ".join(kernel + flip + tap for kernel, tap in zip(kernels_text, taps))
    outs_tex, taps_tex = ",".join(outs), ",".join(taps)
    names = {
        "tex": dict(_NAMES["tex"], tilde_at=r"$dy_{\dots,%s}$ goes to $%s$" % (outs_tex, where_tex),
                    rot_at=r"$w^{\mathrm{rot}}_{c,f,%s} = w_{f,c,%s}$" % (taps_tex, rot_tex)),
        "text": dict(_NAMES["text"], tilde_at=f"dy[..., {', '.join(outs)}] goes to {where_text}",
                     rot_at=f"w_rot[c, f, {', '.join(taps)}] = w[f, c, {rot_text}]"),
    }
    words = _words(spec, padded_by)
    dx_tex, dx_text = (r"dx^{\mathrm{pad}}", "dx_pad") if padded_by is not None else ("dx", "dx")

    def said(name_tex, name_text, key):
        """The rows saying what ``name`` means: one line of text; in LaTeX a row per ``|``-marked part."""
        first, *rest = (part.rstrip() for part in words[key].format(**names["tex"]).split("|"))
        tex = [r"\qquad %s\colon\ \text{%s}" % (name_tex, first)] + [r"\qquad\qquad \text{%s}" % part for part in rest]
        text = [f"  {name_text}: " + words[key].format(**names["text"]).replace("|", "")] + [None] * len(rest)
        return list(zip(tex, text))

    rows = [
        (r"%s = \operatorname{conv\_transpose}(dy, w;\ \text{stride } %s,\ \text{padding } %s,\ "
         r"\text{dilation } %s,\ \text{output\_padding } %s)" % (dx_tex, s, pads, d, op),
         f"{dx_text} = conv_transpose(dy, w; stride {s}, padding {pads}, dilation {d}, output_padding {op})"),
        (r"\phantom{%s} = \widetilde{dy} \star_{%s} w^{\mathrm{rot}}" % (dx_tex, d),
         " " * (len(dx_text) + 1) + f"= dy~ (*)_{d} w_rot"),
        *said(r"\widetilde{dy}", "dy~", "tilde"),
        *said(r"w^{\mathrm{rot}}", "w_rot", "rot"),
        *said(r"\star_{%s}" % d, f"(*)_{d}", "slide"),
    ] + (said(r"\text{output\_padding}", "output_padding", "op") if any(output_padding(spec)) else []) + [
        (r"dw = x^{\mathrm{pad}} \star^{%s}_{%s} dy" % (d, s), f"dw = x_pad (*)^{d}_{s} dy"),
        *said(r"x^{\mathrm{pad}}", "x_pad", "pad"),
        *said(r"\star^{%s}_{%s}" % (d, s), f"(*)^{d}_{s}", "kernel"),
        (r"db_f = \sum_{n,%s} dy_{n,f,%s}" % (outs_tex, outs_tex),
         f"db[f] = sum_{{n, {', '.join(outs)}}} dy[n, f, {', '.join(outs)}]"),
        (r"\qquad \text{%s}" % words["db"].format(**names["tex"]).capitalize(),
         "  " + words["db"].format(**names["text"]).capitalize()),
    ]
    return rows


def operator_document(derivation, fmt: str = "latex", index_base: int = 0, standalone: bool = False) -> str:
    """The identities with this layer's numbers, then each gradient entry computed by them.

    Every entry printed comes from the operator side, and the document says
    whether it equals the chain-rule derivation (it does; the tests prove it).
    """
    check_form(derivation, "operator")
    if fmt not in WRITERS:
        raise SymconvError(f"format: got {fmt!r}, expected one of {', '.join(WRITERS)}")
    spec = derivation.spec
    tensors = symbolic_tensors(spec)
    sides = dict(zip(("dx", "dw", "db"), _family(spec)[0](spec, *tensors)))
    sides = {name: {i: sides[name][i] for i in table} for name, table in derivation.gradients.items()}
    equal = {name: all(expand(sides[name][i]) == expand(derivation.gradients[name][i]) for i in sides[name])
             for name in sides}
    return WRITERS[fmt](spec, sides, equal, index_base, standalone)


#: What cross-correlation is, as ``(LaTeX, text)``.
_CROSS_CORRELATION = (
    r"$\star$ is cross-correlation (PyTorch's convolution): the kernel slides over the array and, at each "
    r"position, the products are added up; the indented lines say what each name in an identity means.",
    "(*) is cross-correlation (PyTorch's convolution): the kernel slides over the array and, at each "
    "position, the products are added up; the indented lines say what each name in an identity means.",
)


def _check_line(equal) -> str:
    verdict = "; ".join(f"{name} {'equal' if ok else 'DIFFERENT'}" for name, ok in equal.items())
    return f"Entries computed by the identities, compared with the chain-rule derivation: {verdict}."


def _header(spec, index_base) -> str:
    return describe(spec) + f", indices from {index_base}"


def _json(spec, sides, equal, index_base, standalone):
    """Keys count from 0, and so do the identities."""
    from symconv.printing.formats import json_text

    return json_text({
        "layer": spec.to_dict(),
        **_family(spec)[2](spec),
        "identities": [text for _, text in _family(spec)[1](spec) if text is not None],
        "equal_to_derivation": equal,
        "gradients": {name: {f"{name}[{', '.join(map(str, i))}]": str(e) for i, e in t.items()}
                      for name, t in sides.items()},
    })


def _text(spec, sides, equal, index_base, standalone):
    from symconv.printing.formats import TextPrinter
    from symconv.printing.latex import table_rows

    printer = TextPrinter(choose_style(spec, index_base))
    lines = [_header(spec, index_base), _CROSS_CORRELATION[1] + " " + _check_line(equal), ""]
    lines += ["  " + text for _, text in _family(spec)[1](spec, index_base) if text is not None]
    for name, table in sides.items():
        rows = table_rows(name, table, printer, "*")
        lines += ["", name] + [f"  {lhs} = {' '.join(terms)}" for lhs, terms in rows]
    return "\n".join(lines) + "\n"


def _math(fmt):
    def write(spec, sides, equal, index_base, standalone):
        from symconv.printing.latex import SymconvLatexPrinter, align_block, math_document, table_rows, tex_text

        identities = _family(spec)[1](spec, index_base)
        printer = SymconvLatexPrinter(choose_style(spec, index_base))

        def blocks(environment):
            first = "\\begin{%s}\n%s\n\\end{%s}" % (
                environment, " \\\\\n".join("&" + tex for tex, _ in identities), environment)
            return [first] + [align_block(table_rows(name, table, printer, " "), 6, environment)
                              for name, table in sides.items()]

        intro = tex_text(_header(spec, index_base)) + ". " + _CROSS_CORRELATION[0] + " " + _check_line(equal)
        return math_document(fmt, describe(spec), intro, blocks, standalone, "symconv: operator identities")

    return write


#: The operator document's writer for each format.
WRITERS = {"latex": _math("latex"), "markdown": _math("markdown"), "text": _text, "json": _json}


#: Per family of layers (:attr:`symconv.layers.rule.LayerRule.operators`): the gradients computed by its
#: identities, the identities' rows, and what its JSON adds.
FAMILIES = {
    "conv": (operator_gradients, _identity_lines, lambda spec: {"output_padding": list(output_padding(spec))}),
    "conv_transpose": (transpose_gradients, transpose_document.identity_lines, transpose_document.json_extra),
}


def _family(spec):
    return FAMILIES[rule_for(spec).operators]
