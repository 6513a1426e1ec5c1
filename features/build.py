"""`build_features(tables, snapshots)`: the ONE feature entry used by training and serving.

Each family lives in its own module, registered in features/families.py, and computes in
the registry's order. Cross-shipment state comes from a `Context` (features/context.py):
training lets
this function build it from the same tables and reads it point-in-time; serving passes the
latest context it loaded once. The simulator's hidden causes are unreachable from here: no
module this one imports reads them (an import-linter contract enforces it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.tables import Tables, category_dtype
from features.catalog import FEATURES
from features.context import Context, build_context
from features.families import REGISTERED
from features.snapshots import SMALL_BATCH, Columns, prepare


def build_features(
    tables: Tables, snapshots: pd.DataFrame, context: Context | None = None
) -> pd.DataFrame:
    """One row of features per snapshot, in the snapshots' order.

    Args:
        tables: Canonical tables holding at least the snapshots' shipments and their scans.
        snapshots: Columns `shipment_id` and `as_of` (UTC). Features for a snapshot use only
            what was known at its `as_of` (docs/architecture.md, "Point in time").
        context: Cross-shipment context; built from `tables` when omitted.

    Returns:
        The columns of `features.catalog.FEATURES`: float64, or category for categorical ones.

    Raises:
        ValueError: A snapshot names an unknown shipment or has no valid `as_of`.
    """
    return _conform(feature_columns(tables, snapshots, context))


def feature_columns(
    tables: Tables, snapshots: pd.DataFrame, context: Context | None = None
) -> Columns:
    """`build_features` before the frame: each feature as a plain array.

    Categorical ones are text or None; `as_categorical` turns them into what the frame
    holds. For the serving path, which goes straight to a float matrix: assembling and taking
    apart a frame of every feature costs more than the trees on a one-parcel request.
    """
    ctx = context if context is not None else build_context(tables)
    snap = prepare(tables.shipments, snapshots, ctx.locale)
    columns: Columns = {}
    for family in REGISTERED:  # in order: a family may read the columns of those before it
        columns.update(family.compute(snap, tables, ctx, columns))
    return columns


def as_categorical(values: np.ndarray) -> pd.Categorical:
    """Categorical of strings, None where missing; fast for the few rows of a request."""
    if len(values) > SMALL_BATCH:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return pd.Categorical.from_codes(codes, uniques.astype(str).astype(object))
    seen = list(dict.fromkeys(str(v) for v in values if v is not None and v == v))
    position = {v: i for i, v in enumerate(seen)}
    codes = np.array([position.get(str(v), -1) if v is not None else -1 for v in values])
    return pd.Categorical.from_codes(codes, dtype=category_dtype(tuple(seen)))


def _conform(columns: Columns) -> pd.DataFrame:
    """Contract order and dtypes: float64 numbers, categories of strings (None when missing)."""
    out = {}
    for f in FEATURES:
        values = np.asarray(columns[f.name])
        if f.kind == "category":
            out[f.name] = as_categorical(values.astype(object))
        else:
            out[f.name] = values.astype("float64")
    return pd.DataFrame(out)


__all__ = ["as_categorical", "build_features", "feature_columns"]
