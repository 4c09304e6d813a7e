"""The size guard: refuse, before anything is built, a derivation too large to be useful.

It counts in closed form (:mod:`symconv.spec.counting`), so it answers at
once however large the layer it refuses, and before SymPy is imported.
"""

from __future__ import annotations

from symconv.errors import SymconvError

#: Default for the size guard: the number of forward and gradient terms above
#: which a derivation is refused before anything is built.
DEFAULT_MAX_TERMS = 2_000_000

#: What one term of a layer built of SymPy expressions (sigmoid, tanh, batch norm, a derived loss's dy)
#: counts as against ``--max-terms``. Such a term costs 100-2000 times a term table's (0.4 us per term
#: for a convolution, derivation and JSON; tanh 145 us, batch norm 240 us, cross-entropy 95 us, sigmoid
#: 740 us, measured 2026-12-07): weighted by 50, the default limit lets through about 30 s of work at most.
SYMPY_TERM_WEIGHT = 50


def estimate_work(spec, loss=None) -> int:
    """The terms the size guard counts: a spec's own, each of a SymPy-built layer or loss counted
    :data:`SYMPY_TERM_WEIGHT` times (``spec.sympy_terms``); a stack sums its layers'."""
    layers = spec.layers if spec.is_stack else (spec,)
    work = sum(layer.estimate_terms() * (SYMPY_TERM_WEIGHT if layer.sympy_terms else 1) for layer in layers)
    if loss is not None:
        work += loss.estimate_terms() * (SYMPY_TERM_WEIGHT if loss.derives else 1)
    return work

def check_size(spec, max_terms: int = DEFAULT_MAX_TERMS, loss=None) -> int:
    """Refuse, before building anything, a derivation over ``max_terms`` terms.

    Each entry costs at least a line even when it is 0, so a layer with more
    entries than terms is measured by its entries. A derived loss
    (:class:`symconv.spec.loss.LossSpec`) adds its dy. Returns the term estimate.
    """
    terms, entries = spec.estimate_terms(), spec.count_entries()
    if loss is not None:
        terms, entries = terms + loss.estimate_terms(), entries + loss.count_entries()
    work = estimate_work(spec, loss)
    if entries > max(terms, max_terms):
        raise SymconvError(
            f"max-terms: this layer needs {entries:,} equations (one per element of every tensor "
            f"and gradient), over the limit {max_terms:,}; expected a smaller layer or a larger --max-terms"
        )
    if work > max_terms:
        weighed = "" if work == terms else (
            f" (counted as {work:,}: each term of sigmoid, tanh, batch norm or a derived loss, built with SymPy, "
            f"counts {SYMPY_TERM_WEIGHT} times)")
        raise SymconvError(
            f"max-terms: this layer needs about {terms:,} terms{weighed}, over the limit "
            f"{max_terms:,}; expected a smaller layer or a larger --max-terms"
        )
    return terms
