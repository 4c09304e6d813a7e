"""General index formulas: a layer's forward and gradients for every size at once.

* :mod:`symconv.formula.sums`: symbolic sizes, axes, bounded sums, first-argmax selectors;
* :mod:`symconv.formula.index`: the formulas, derived from the forward definition;
* :mod:`symconv.formula.shift`: the same formulas with indices counted from 1;
* :mod:`symconv.formula.operators`: dx, dw, db as whole-tensor operations;
* :mod:`symconv.formula.matrix`: a small layer's gradients as matrix pictures.

``symconv.formula("conv2d")`` derives a layer's formulas (a
:class:`~symconv.formula.index.Formulas`); ``symconv.render`` writes them.
"""

from __future__ import annotations

import sys
import types


def formula(layer: str, groups: bool = False, index_base: int = 0):
    """The general index formulas of ``layer``, derived from its forward definition.

    ``groups=True`` gives a convolution's formulas with G groups;
    ``index_base=1`` counts every index from 1.
    """
    from symconv.formula.index import derive_formulas

    return derive_formulas(layer, groups, index_base)


class _CallableModule(types.ModuleType):
    """``symconv.formula("conv2d")`` calls :func:`formula`, though ``symconv.formula`` is also this package.

    Python binds a package's name on its parent once any of its modules is
    imported, so the public function and the package share one object.
    """

    def __call__(self, layer: str, groups: bool = False, index_base: int = 0):
        return formula(layer, groups, index_base)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["formula"]
