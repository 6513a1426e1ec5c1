"""Hub-load family: how busy the parcel's hubs and terminal are, from scans known at as_of.

For the origin hub, the destination hub, the destination terminal and the current location:
parcels in over the trailing 24 h and parcels on hand (in, not yet out), both over the daily
capacity, and the mean dwell of parcels that left in the trailing 24 h. The hidden backlog of
the simulator is never read: only what the scans of all parcels show, before the last full
hour at or before as_of.
"""

from __future__ import annotations

import numpy as np

from contract.tables import Tables
from features.family import HUBS, Family, Feature, feature
from features.route import network_index
from features.series import HOUR, Context
from features.snapshots import Columns, Snapshots, map_values

NAME = "hub_load"


def _at(context: Context, location: np.ndarray, hour: np.ndarray) -> Columns:
    hub = context.hub_load
    if len(hub.locations) == 0:  # a source without a network table (Olist): nothing known
        missing = np.full(len(hour), np.nan)
        return {"inflow_ratio": missing, "on_hand_ratio": missing.copy(), "dwell_h": missing.copy()}
    positions = context.memo("hub.locations", lambda: {k: i for i, k in enumerate(hub.locations)})
    loc = np.asarray(map_values(location, positions, -1), dtype=np.int64)
    n_bounds = next(iter(hub.cum.values())).shape[1]
    h = np.clip(hour - hub.first_hour, 0, n_bounds - 1)
    h24 = np.clip(h - 24, 0, n_bounds - 1)
    li = np.maximum(loc, 0)

    def window(name: str) -> np.ndarray:
        return hub.cum[name][li, h] - hub.cum[name][li, h24]

    cap = np.where(hub.capacity[li] > 0, hub.capacity[li], np.nan)
    on_hand = hub.cum["in"][li, h] - hub.cum["out"][li, h]
    dwell_n = window("dwell_n")
    known = loc >= 0
    return {
        "inflow_ratio": np.where(known, window("in") / cap, np.nan),
        "on_hand_ratio": np.where(known, np.maximum(on_hand, 0) / cap, np.nan),
        "dwell_h": np.where(
            known & (dwell_n > 0), window("dwell") / np.maximum(dwell_n, 1), np.nan
        ),
    }


def hub_load_features(snap: Snapshots, context: Context, places: dict[str, np.ndarray]) -> Columns:
    """Hub-load columns; `places` maps origin/dest/terminal/current to location ids."""
    hour = np.floor(snap.as_of_s / HOUR).astype(np.int64)
    out: Columns = {}
    for where in ("origin", "dest", "terminal", "current"):
        for name, values in _at(context, places[where], hour).items():
            out[f"hub_{where}_{name}"] = values
    return out


def _compute(snap: Snapshots, tables: Tables, context: Context, done: Columns) -> Columns:
    index = network_index(tables, context)
    places = {
        "origin": done["_origin_hub"],
        "dest": done["_dest_hub"],
        "terminal": map_values(snap.column("dest_region"), index.terminal_id, None),
        "current": done["prog_last_location"],
    }
    return hub_load_features(snap, context, places)


_PLACES = (
    ("origin", "origin hub"),
    ("dest", "destination hub"),
    ("terminal", "destination terminal"),
    ("current", "current location"),
)
_MEASURES = (
    ("inflow_ratio", "Parcels in over the last 24 h / daily capacity"),
    ("on_hand_ratio", "Parcels in but not out / daily capacity (backlog)"),
    ("dwell_h", "Mean dwell of parcels that left in the last 24 h"),
)
FEATURES: tuple[Feature, ...] = tuple(
    feature(f"hub_{where}_{what}", NAME, f"{label} at the {place}.", HUBS)
    for where, place in _PLACES
    for what, label in _MEASURES
)
FAMILY = Family(NAME, "HUB_BACKLOG", FEATURES, _compute)
