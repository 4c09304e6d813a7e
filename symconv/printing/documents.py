"""Every document symconv writes, behind one function: :func:`render`.

A derivation is shown in one of :data:`~symconv.names.FORMS` (every entry,
the operator identities, the matrix pictures), each written in one of
:data:`~symconv.names.FORMATS`; :data:`FORMS` maps each form to its writer.
A layer's general index formulas (:func:`symconv.formula.formula`) are
written by the same function.

>>> from symconv.engine.derive import derive
>>> from symconv.spec.conv import conv_spec
>>> d = derive(conv_spec("conv1d", (1, 1, 3), (1, 1, 2)))
>>> print(render(d, "text").splitlines()[4])
  y[0] = w[0]*x[0] + w[1]*x[1] + b
>>> render(d, "text", form="picture")
Traceback (most recent call last):
...
symconv.errors.SymconvError: form: got 'picture', expected one of element, operator, matrix
"""

from __future__ import annotations

import sys

from symconv.errors import SymconvError
from symconv.names import FORMATS, FORMULA_LAYERS
from symconv.names import FORMS as FORM_NAMES


def _element(derivation, fmt, index_base, standalone, progress):
    from symconv.printing.formats import render as element_document

    return element_document(derivation, fmt, index_base, standalone, progress)


def _operator(derivation, fmt, index_base, standalone, progress):
    from symconv.printing.operator_document import operator_document

    return operator_document(derivation, fmt, index_base, standalone)


def _matrix(derivation, fmt, index_base, standalone, progress):
    from symconv.printing.matrix_document import matrix_document

    return matrix_document(derivation, fmt, index_base, standalone)


#: Each form's writer: (derivation, format, index base, standalone, progress) -> text.
FORMS = {"element": _element, "operator": _operator, "matrix": _matrix}
assert tuple(FORMS) == FORM_NAMES


def render(derivation, fmt: str = "latex", index_base: int = 0, standalone: bool = False,
           form: str = "element", progress=None) -> str:
    """A derivation (or a layer's index formulas) as a document.

    ``form`` says what is shown, ``fmt`` how it is written; ``standalone``
    makes a LaTeX document pdflatex compiles; ``progress`` is called after
    each section of the element-wise document is written. Formulas take
    neither an index base nor a form.
    """
    formulas = sys.modules.get("symconv.formula.index")  # not loaded: the object cannot be its Formulas
    if formulas is not None and isinstance(derivation, formulas.Formulas):
        from symconv.printing.formula_document import write_formulas

        if fmt not in FORMATS:
            raise SymconvError(f"format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
        return write_formulas(derivation, fmt, standalone)
    if form not in FORMS:
        raise SymconvError(f"form: got {form!r}, expected one of {', '.join(FORMS)}")
    if fmt not in FORMATS:
        raise SymconvError(f"format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
    if standalone and fmt != "latex":
        raise SymconvError(f"standalone: got --standalone with --format {fmt}, expected --format latex")
    return FORMS[form](derivation, fmt, index_base, standalone, progress)


def formula_document(layer: str, fmt: str = "latex", standalone: bool = False) -> str:
    """The general index formulas of ``layer`` (every size at once) as a document."""
    if layer not in FORMULA_LAYERS:
        raise SymconvError(f"layer: got {layer!r}, expected one of {', '.join(FORMULA_LAYERS)}")
    from symconv.formula.index import derive_formulas

    return render(derive_formulas(layer), fmt, standalone=standalone)
