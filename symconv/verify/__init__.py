"""Prove a derivation three independent ways: reference kernels, finite differences, exact rationals.

* :mod:`symconv.verify.checks`: relative error, finite differences, the report;
* :mod:`symconv.verify.chain`: derived and reference values along a chain of layers;
* :mod:`symconv.verify.loop`: the one loop, for a layer and a stack alike;
* :mod:`symconv.verify.layer`, :mod:`symconv.verify.stack`: how each draws its values;
* :mod:`symconv.verify.html`: the report in Jupyter.
"""

from __future__ import annotations

import sys
import types


def verify(derivation, seed: int = 0, **options):
    """The :class:`~symconv.verify.checks.Report` of a layer's or a stack's derivation."""
    if derivation.is_stack:
        from symconv.verify.stack import verify_stack

        return verify_stack(derivation, seed=seed, **options)
    from symconv.verify.layer import verify as verify_layer

    return verify_layer(derivation, seed=seed, **options)


__all__ = ["verify"]


class _CallableModule(types.ModuleType):
    """``symconv.verify(d)`` calls :func:`verify`, though ``symconv.verify`` is also this package.

    Python binds a package's name on its parent once any of its modules is
    imported, so the public function and the package share one object.
    """

    def __call__(self, derivation, seed: int = 0, **options):
        return verify(derivation, seed=seed, **options)


sys.modules[__name__].__class__ = _CallableModule
