"""`build_features(tables, snapshots)`: the ONE feature entry used by training and serving.

Each family lives in its own module (route, progress, hub_load, weather, address, calendar,
history). Cross-shipment state comes from a `Context` (features/context.py): training lets
this function build it from the same tables and reads it point-in-time; serving passes the
latest context it loaded once. The simulator's hidden causes are unreachable from here: no
module this one imports reads them (an import-linter contract enforces it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.address import address_columns
from features.calendar import calendar_features
from features.context import Context, build_context
from features.history import history_features
from features.hub_load import hub_load_features
from features.order import order_features
from features.progress import progress_features
from features.route import NetworkIndex, route_features
from features.schema import FEATURES
from features.snapshots import SMALL_BATCH, Columns, Snapshots, map_values, prepare
from features.tables import Tables, category_dtype
from features.weather import weather_features


def build_features(
    tables: Tables, snapshots: pd.DataFrame, context: Context | None = None
) -> pd.DataFrame:
    """One row of features per snapshot, in the snapshots' order.

    Args:
        tables: Canonical tables holding at least the snapshots' shipments and their scans.
        snapshots: Columns `shipment_id` and `as_of` (UTC). Features for a snapshot use only
            what was known at its `as_of` (DESIGN.md section 4).
        context: Cross-shipment context; built from `tables` when omitted.

    Returns:
        The columns of `features.schema.FEATURES`: float64, or category for categorical ones.

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
    apart a 69-column frame costs more than the trees on a one-parcel request.
    """
    snap = prepare(tables.shipments, snapshots)
    ctx = context if context is not None else build_context(tables)
    network = ctx.network if not ctx.network.empty else tables.network
    index = ctx.memo("network_index", lambda: NetworkIndex.of(network))
    columns = route_features(snap, index)
    columns.update(progress_features(snap, tables.scan_events, ctx, columns["route_n_hubs"]))
    current = columns["prog_last_location"]
    current_region = map_values(current, index.location_region, None)
    places = {
        "origin": columns["_origin_hub"],
        "dest": columns["_dest_hub"],
        "terminal": map_values(snap.column("dest_region"), index.terminal_id, None),
        "current": current,
    }
    columns.update(hub_load_features(snap, ctx, places))
    hub_region = map_values(columns["_dest_hub"], index.location_region, None)
    columns.update(weather_features(snap, ctx, {"current": current_region, "hub": hub_region}))
    columns.update(_address(snap))
    columns.update(calendar_features(snap))
    columns.update(history_features(snap, ctx, columns["route_lane"]))
    columns.update(order_features(snap))
    return columns


def _address(snap: Snapshots) -> Columns:
    """Address features once per shipment (snapshots repeat shipments), spread back."""
    codes, _ = pd.factorize(snap.position)
    first = np.unique(codes, return_index=True)[1]
    per_shipment = address_columns(
        *(
            np.asarray(snap.column(f), dtype=object)[first]
            for f in ("dest_address", "dest_postcode", "recipient_phone")
        )
    )
    return {name: values[codes] for name, values in per_shipment.items()}


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
