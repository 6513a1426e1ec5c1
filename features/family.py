"""What a feature family is: its features, the context series it reads, how it computes them.

Each family is one module with one `Family`, registered in features/families.py; the catalog
(features/catalog.py), the context (features/context.py) and `build_features` all follow the
registry, so adding a family is one module and one line there (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from contract.tables import Tables
from features.series import Context, DailySeries
from features.snapshots import Columns, Snapshots

FeatureKind = Literal["numeric", "category"]

# What a feature may see at `as_of` (docs/features.md, the point-in-time rule).
STATIC = "static shipment fields known at creation"
EVENTS = "scan events with event_time <= as_of"
HUBS = "scan events before the last full hour <= as_of (all shipments)"
DONE = "shipments/events completed before the UTC day of as_of"
DUE = "promises that fell due before the UTC day of as_of (missed: not delivered by then)"
OBS = "observations of local days completed by as_of"
FORECAST = "forecasts issued on or before the local day of as_of"


@dataclass(frozen=True)
class Feature:
    """One column of the feature frame `features.build.build_features` returns.

    Attributes:
        name: Column name (prefixed by its family).
        family: Feature family (one module each); reasons are summed per family.
        kind: numeric (float64) or category.
        description: What it measures.
        point_in_time: What it may see at `as_of`.
        reason: A reason code more specific than its family's (None: the family's).
    """

    name: str
    family: str
    kind: FeatureKind
    description: str
    point_in_time: str
    reason: str | None = None


def feature(
    name: str,
    family: str,
    description: str,
    rule: str,
    kind: FeatureKind = "numeric",
    reason: str | None = None,
) -> Feature:
    """A catalog entry (positional in the order the catalog reads best)."""
    return Feature(name, family, kind, description, rule, reason)


# A family's computation: the snapshots, the request's (or history's) tables, the context, and
# the columns the families before it computed (private ones start with "_").
Compute = Callable[[Snapshots, Tables, Context, Columns], Columns]
# A daily series builder: (shipments, scan events, (first, last) epoch day) -> its sums.
SeriesBuilder = Callable[[pd.DataFrame, pd.DataFrame, tuple[int, int]], DailySeries]


@dataclass(frozen=True)
class Family:
    """A feature family.

    Attributes:
        name: Family name, the prefix-giver of its features.
        reason: Reason code its features' contributions count toward (training/reasons.py).
        features: Its catalog entries, in frame order.
        compute: Computes its columns (every entry of `features`, and any private helper
            columns later families read).
        series: Daily context series it reads, by name, with their builders.
    """

    name: str
    reason: str
    features: tuple[Feature, ...]
    compute: Compute
    series: Mapping[str, SeriesBuilder] = field(default_factory=dict)
