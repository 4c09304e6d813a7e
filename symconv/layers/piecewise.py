"""The canonical ``Piecewise`` builders live in :mod:`symconv.symbolic.piecewise`; this name stays for callers."""

from symconv.symbolic.piecewise import all_of, beats, canonical_ranks, first_maximum_indicator, piecewise

__all__ = ["all_of", "beats", "canonical_ranks", "first_maximum_indicator", "piecewise"]
