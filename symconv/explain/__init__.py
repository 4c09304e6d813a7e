r"""Explanations: a layer's backward pass derived step by step, each step an equation symconv has checked.

``symconv.explain("conv2d")`` derives, in symbolic sizes, the steps a hand
derivation takes (the forward as a sum with its padding brackets, the chain
rule over every output, the derivative as Iverson brackets, the brackets
solved, the bounds tightened into ``symconv formula``'s result, the operator
form), each with one line of why for a learner; with a layer's ``spec`` and
an entry ``at`` of a gradient, the same steps instantiated down to that
entry, ending in its closed form. Every step is then checked
(:mod:`symconv.explain.check`): evaluated exactly at 20 random layers and at
the layer's own sizes, it must equal the NumPy reference kernels.

* :mod:`~symconv.explain.derivation`, :mod:`~symconv.explain.operator`: the general steps;
* :mod:`~symconv.explain.entry`, :mod:`~symconv.explain.facts`: the steps at one entry, and what survives;
* :mod:`~symconv.explain.words`: the why of each general step;
* :mod:`~symconv.explain.families`: sizes, and the random layers the checks use;
* :mod:`~symconv.explain.evaluate`, :mod:`~symconv.explain.check`: exact evaluation and the checks;
* :mod:`~symconv.explain.printers`, :mod:`~symconv.explain.writers`: the documents.

>>> e = explain("conv1d", wrt="b")
>>> [s.key for s in e.steps], e.report.passed
(['forward', 'chain', 'brackets', 'solved'], True)
"""

from __future__ import annotations

import sys
import types

#: The gradients an explanation can be about.
WRT = ("x", "w", "b", "all")


def explain(kind: str, spec=None, at=None, wrt: str | None = None, index_base: int = 0, check: bool = True,
            seed: int = 0):
    """The :class:`~symconv.explain.model.Explanation` of ``kind``'s backward pass, checked.

    Without ``spec``: the general derivation, for the gradients ``wrt`` names
    (``"x"``, ``"w"``, ``"b"`` or ``"all"``, the default). With ``spec`` (a
    layer of ``kind``) and ``at`` (a 0-based index of the gradient ``wrt``
    names, ``"x"`` by default): the steps at that entry. ``index_base`` 1
    counts every shown index from 1; ``check`` False leaves the steps
    unchecked (``report`` None).
    """
    from symconv.explain import writers  # noqa: F401  (gives an explanation its Jupyter display)
    from symconv.explain.build import build

    return build(kind, spec, at, wrt, index_base, check, seed)


def write(explanation, fmt: str = "latex", standalone: bool = False) -> str:
    """An explanation as a LaTeX, Markdown, text or JSON document (:mod:`symconv.explain.writers`)."""
    from symconv.explain.writers import write_explanation

    return write_explanation(explanation, fmt, standalone)


class _CallableModule(types.ModuleType):
    """``symconv.explain("conv2d")`` calls :func:`explain`, though ``symconv.explain`` is also this package.

    Python binds a package's name on its parent once any of its modules is
    imported, so the public function and the package share one object.
    """

    def __call__(self, kind: str, spec=None, at=None, wrt: str | None = None, index_base: int = 0,
                 check: bool = True, seed: int = 0):
        return explain(kind, spec, at, wrt, index_base, check, seed)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["explain", "write", "WRT"]
