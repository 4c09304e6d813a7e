r"""The operator document: dx, dw and db of a convolution as the identities of :mod:`symconv.formula.operators`.

It writes the identities with the layer's numbers, then every gradient entry
as the identities compute it, and says whether each equals the chain-rule
derivation.

>>> from symconv.engine.derive import derive
>>> from symconv.spec.conv import conv_spec
>>> text = operator_document(derive(conv_spec("conv1d", (1, 1, 5), (1, 1, 2), stride=2)), "text")
>>> text.splitlines()[1]
'(*) is cross-correlation. Entries computed by the identities, compared with the chain-rule derivation: dx equal; dw equal; db equal.'
"""

from __future__ import annotations

from sympy import expand

from symconv.errors import SymconvError
from symconv.formula.operators import dy_placement, operator_gradients, output_padding, symbolic_tensors
from symconv.printing.present import check_form, choose_style, describe


def _axes(values):
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else "(" + ", ".join(values) + ")"


def _affine(slope, var, offset, times):
    """``2 i + 1``, ``i - 1``, ``3 i``: a position, ``times`` between the slope and the variable."""
    term = var if slope == 1 else f"{slope}{times}{var}"
    return term if offset == 0 else f"{term} {'+' if offset > 0 else '-'} {abs(offset)}"


#: Per number of spatial axes: the index letters, and the kernel sizes as LaTeX and as text.
_LETTERS = {1: (("i",), ("k",), ("K",), ("K",)), 2: (("i", "j"), ("k", "l"), ("K_H", "K_W"), ("KH", "KW"))}


def _identity_lines(spec, index_base: int = 0):
    """``(LaTeX, text)`` of each identity with this layer's numbers, one row each, indices from ``index_base``."""
    outs, taps, kernels_tex, kernels_text = _LETTERS[spec.ndim]
    reach = [d * (k - 1) for d, k in zip(spec.dilation, spec.weight[2:])]
    pads = _axes(lo for lo, _ in spec.padding) if all(lo == hi for lo, hi in spec.padding) \
        else _axes(f"{lo}/{hi}" for lo, hi in spec.padding)
    s, d, op = _axes(spec.stride), _axes(spec.dilation), _axes(output_padding(spec))
    tilde = "x".join(str(h + r) for h, r in zip(spec.input[2:], reach))
    padded = "x".join(str((o - 1) * st + r + 1) for o, st, r in zip(spec.output_shape[2:], spec.stride, reach))
    placement = list(zip(dy_placement(spec, index_base), outs))
    where_tex = _axes(_affine(slope, v, offset, r"\,") for (slope, offset), v in placement)
    where_text = _axes(_affine(slope, v, offset, "*") for (slope, offset), v in placement)
    # w_rot[c, f, k] = w[f, c, K-1-k] counted from 0; from 1, K+1-k.
    flip = "-1-" if index_base == 0 else "+1-"
    rot_tex = ",".join(kernel + flip + tap for kernel, tap in zip(kernels_tex, taps))
    rot_text = ", ".join(kernel + flip + tap for kernel, tap in zip(kernels_text, taps))
    outs_tex, taps_tex = ",".join(outs), ",".join(taps)
    return [
        (r"dx = \operatorname{conv\_transpose}(dy, w;\ \text{stride } %s,\ \text{padding } %s,\ "
         r"\text{dilation } %s,\ \text{output\_padding } %s)" % (s, pads, d, op),
         f"dx = conv_transpose(dy, w; stride {s}, padding {pads}, dilation {d}, output_padding {op})"),
        (r"\phantom{dx} = \widetilde{dy} \star_{%s} w^{\mathrm{rot}}" % d, f"   = dy~ (*)_{d} w_rot"),
        (r"\widetilde{dy}: \text{ %s per slice, } dy_{\dots,%s} \text{ at } %s,\ "
         r"\text{zero elsewhere};\quad w^{\mathrm{rot}}_{c,f,%s} = w_{f,c,%s}"
         % (tilde, outs_tex, where_tex, taps_tex, rot_tex),
         f"dy~: {tilde} per slice, dy[..., {', '.join(outs)}] at {where_text}, zero elsewhere; "
         f"w_rot[c, f, {', '.join(taps)}] = w[f, c, {rot_text}]"),
        (r"dw = x^{\mathrm{pad}} \star^{%s}_{%s} dy:\ x \text{ padded to %s, } dy \text{ taps %s apart, "
         r"read every %s}" % (d, s, padded, s, d),
         f"dw = x_pad (*)^{d}_{s} dy: x padded to {padded}, dy taps {s} apart, read every {d}"),
        (r"db_f = \sum_{n,%s} dy_{n,f,%s}" % (outs_tex, outs_tex),
         f"db[f] = sum_{{n, {', '.join(outs)}}} dy[n, f, {', '.join(outs)}]"),
    ]


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
    sides = dict(zip(("dx", "dw", "db"), operator_gradients(spec, *tensors)))
    sides = {name: {i: sides[name][i] for i in table} for name, table in derivation.gradients.items()}
    equal = {name: all(expand(sides[name][i]) == expand(derivation.gradients[name][i]) for i in sides[name])
             for name in sides}
    return WRITERS[fmt](spec, sides, equal, index_base, standalone)


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
        "output_padding": list(output_padding(spec)),
        "identities": [text for _, text in _identity_lines(spec)],
        "equal_to_derivation": equal,
        "gradients": {name: {f"{name}[{', '.join(map(str, i))}]": str(e) for i, e in t.items()}
                      for name, t in sides.items()},
    })


def _text(spec, sides, equal, index_base, standalone):
    from symconv.printing.formats import TextPrinter
    from symconv.printing.latex import table_rows

    printer = TextPrinter(choose_style(spec, index_base))
    lines = [_header(spec, index_base), "(*) is cross-correlation. " + _check_line(equal), ""]
    lines += ["  " + text for _, text in _identity_lines(spec, index_base)]
    for name, table in sides.items():
        rows = table_rows(name, table, printer, "*")
        lines += ["", name] + [f"  {lhs} = {' '.join(terms)}" for lhs, terms in rows]
    return "\n".join(lines) + "\n"


def _math(fmt):
    def write(spec, sides, equal, index_base, standalone):
        from symconv.printing.latex import SymconvLatexPrinter, align_block, math_document, table_rows

        identities = _identity_lines(spec, index_base)
        printer = SymconvLatexPrinter(choose_style(spec, index_base))

        def blocks(environment):
            first = "\\begin{%s}\n%s\n\\end{%s}" % (
                environment, " \\\\\n".join("&" + tex for tex, _ in identities), environment)
            return [first] + [align_block(table_rows(name, table, printer, " "), 6, environment)
                              for name, table in sides.items()]

        intro = (_header(spec, index_base) + r". $\star$ is cross-correlation (PyTorch's convolution); subscripts "
                 r"give the spacing of the kernel's taps, superscripts how often the result is read. "
                 + _check_line(equal))
        return math_document(fmt, describe(spec), intro, blocks, standalone, "symconv: operator identities")

    return write


#: The operator document's writer for each format.
WRITERS = {"latex": _math("latex"), "markdown": _math("markdown"), "text": _text, "json": _json}
