"""The size guard: refuse, before anything is built, a derivation too large to be useful.

It counts in closed form (:mod:`symconv.spec.counting`), so it answers at
once however large the layer it refuses, and before SymPy is imported.
"""

from __future__ import annotations

from symconv.errors import SymconvError

#: Default for the size guard: the number of forward and gradient terms above
#: which a derivation is refused before anything is built.
DEFAULT_MAX_TERMS = 2_000_000

def check_size(spec, max_terms: int = DEFAULT_MAX_TERMS, loss=None) -> int:
    """Refuse, before building anything, a derivation over ``max_terms`` terms.

    Each entry costs at least a line even when it is 0, so a layer with more
    entries than terms is measured by its entries. A derived loss
    (:class:`symconv.spec.loss.LossSpec`) adds its dy. Returns the term estimate.
    """
    terms, entries = spec.estimate_terms(), spec.count_entries()
    if loss is not None:
        terms, entries = terms + loss.estimate_terms(), entries + loss.count_entries()
    if entries > max(terms, max_terms):
        raise SymconvError(
            f"max-terms: this layer needs {entries:,} equations (one per element of every tensor "
            f"and gradient), over the limit {max_terms:,}; expected a smaller layer or a larger --max-terms"
        )
    if terms > max_terms:
        raise SymconvError(
            f"max-terms: this layer needs about {terms:,} terms, over the limit "
            f"{max_terms:,}; expected a smaller layer or a larger --max-terms"
        )
    return terms
