"""The feature catalog: every column `build_features` returns, its family and what it may see.

Assembled from the registered families (features/families.py), in their order; each family
module declares its own entries. docs/features.md is generated from it (a test checks), the
models' column order is its order, and reasons are summed by its families.
"""

from __future__ import annotations

from features.families import REGISTERED
from features.family import Feature, FeatureKind

FEATURES: tuple[Feature, ...] = tuple(f for family in REGISTERED for f in family.features)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "category")
FAMILIES: tuple[str, ...] = tuple(family.name for family in REGISTERED)
FAMILY_REASONS: dict[str, str] = {family.name: family.reason for family in REGISTERED}


def features_of(family: str) -> tuple[str, ...]:
    """Feature names of one family, in frame order."""
    return tuple(f.name for f in FEATURES if f.family == family)


__all__ = [
    "CATEGORICAL_FEATURES",
    "FAMILIES",
    "FAMILY_REASONS",
    "FEATURES",
    "FEATURE_NAMES",
    "Feature",
    "FeatureKind",
    "features_of",
]
