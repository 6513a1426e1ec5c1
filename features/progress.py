"""Progress family: where the parcel is in its journey and whether it is stalling.

Reads only the parcel's own scan events with event_time <= as_of. "Normal" time after each
scan type comes from the context (gaps completed before the snapshot's UTC day).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.tables import Tables
from features.family import DONE, EVENTS, STATIC, Family, feature
from features.series import DAY, HOUR, Context, DailySeries, sorted_keys, windowed
from features.snapshots import (
    SMALL_BATCH,
    Columns,
    Snapshots,
    by_parcel_and_time,
    map_values,
    pick,
    positions_in,
    positions_of,
    seconds,
    texts_of,
)

NAME = "progress"
GAP_BIN_H, GAP_BINS = 1, 120  # scan-gap histogram: 1 h bins up to 120 h
GAP_DAYS = 28  # trailing window of the normal scan gaps
STAGE = {
    "CREATED": 1,
    "PICKED_UP": 2,
    "HUB_IN": 3,
    "HUB_OUT": 3,
    "TERMINAL_IN": 4,
    "OUT_FOR_DELIVERY": 5,
    "DELIVERY_FAILED": 6,
    "DELIVERED": 7,
}
_KEY_SCALE = 10_000_000_000.0  # shipment code x scale + epoch seconds keeps (code, time) order


def _ordered_events(events: pd.DataFrame, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Scans of the snapshot parcels by (parcel code, time), with running counts.

    A sentinel row (code -1) comes first, so parcels without scans look up safely.
    """
    if len(events) <= SMALL_BATCH:  # a request's scans: plain dict lookups
        code = positions_of(events["shipment_id"].to_numpy(dtype=object), ids)
    else:
        code = positions_in(events["shipment_id"], pd.Index(ids))
    t = seconds(events["event_time"])
    keep = (code >= 0) & ~np.isnan(t)
    kind = texts_of(events["event_type"])[keep]
    location = texts_of(events["location_id"])[keep]
    code, t = np.concatenate([[-1], code[keep]]), np.concatenate([[0.0], t[keep]])
    kind = np.concatenate([["NONE"], kind]).astype(object)
    location = np.concatenate([[None], location]).astype(object)
    order = np.lexsort((t, code))
    code, t, kind, location = code[order], t[order], kind[order], location[order]
    stage = map_values(kind, STAGE, 0).astype(float)
    # Furthest stage so far within each parcel: codes ascend, so offset them apart and take
    # one running maximum over everything.
    stage = np.maximum.accumulate(stage + (code + 1) * 10.0) - (code + 1) * 10.0
    out = {"code": code, "t": t, "kind": kind, "location": location, "stage": stage}
    for name, scan in (
        ("failed", "DELIVERY_FAILED"),
        ("hubs", "HUB_OUT"),
        ("exceptions", "EXCEPTION"),
    ):
        out[name] = np.cumsum(kind == scan).astype(float)
    return out


def progress_features(
    snap: Snapshots, events: pd.DataFrame, context: Context, n_hubs: np.ndarray
) -> Columns:
    """Progress columns for every snapshot (NaN/0 defaults when no scan is known yet)."""
    ids = pd.unique(np.asarray(snap.column("shipment_id"), dtype=object))
    code = positions_of(np.asarray(snap.column("shipment_id"), dtype=object), ids)
    ev = _ordered_events(events, ids)
    ev_code = ev["code"]
    last = (
        np.searchsorted(
            ev_code * _KEY_SCALE + ev["t"], code * _KEY_SCALE + snap.as_of_s, side="right"
        )
        - 1
    )
    has = (last >= 0) & (ev_code[np.maximum(last, 0)] == code)
    first = np.searchsorted(ev_code, code, side="left")
    at = np.maximum(last, 0)

    def running(col: str) -> np.ndarray:
        return np.where(has, ev[col][at] - ev[col][np.maximum(first - 1, 0)], 0.0)

    kind = pick(has, ev["kind"][at])
    since = np.where(has, (snap.as_of_s - ev["t"][at]) / 3600, np.nan)
    normal = _normal_gap(context, snap, kind)
    hubs_passed = running("hubs")
    return {
        "prog_last_event": kind,
        "prog_last_location": pick(has, ev["location"][at]),
        "prog_stage": np.where(has, ev["stage"][at], 0.0),
        "prog_n_events": np.where(has, last - first + 1, 0).astype(float),
        "prog_hours_since_scan": since,
        "prog_normal_gap_h": normal,
        "prog_gap_ratio": since / np.maximum(normal, 0.5),
        "prog_hours_to_promise": (snap.promised_s - snap.as_of_s) / 3600,
        "prog_hours_since_created": (snap.as_of_s - snap.created_s) / 3600,
        "prog_hubs_passed": hubs_passed,
        "prog_remaining_legs": np.maximum(n_hubs - hubs_passed, 0),
        "prog_failed_attempts": running("failed"),
        "prog_exceptions": running("exceptions"),
    }


def _normal_gap(context: Context, snap: Snapshots, kind: np.ndarray) -> np.ndarray:
    """Median hours to the next scan after a scan of this type, from the context histogram."""
    gaps = context.series["gaps"]
    col = np.asarray(
        map_values(
            kind,
            context.memo("gaps.keys", lambda: {k: i for i, k in enumerate(gaps.keys)}),
            -1,
        ),
        dtype=np.int64,
    )
    row = gaps.rows(np.floor(snap.as_of_s / 86400).astype(np.int64))
    hist = gaps.sums["gaps"][row, np.maximum(col, 0)]  # [snapshots, bins]
    total = hist.sum(axis=1)
    median_bin = (np.cumsum(hist, axis=1) >= total[:, None] / 2).argmax(axis=1)
    known = (col >= 0) & (total >= 5)
    return np.where(known, (median_bin + 0.5) * GAP_BIN_H, np.nan)


def gap_history(
    shipments: pd.DataFrame, events: pd.DataFrame, days: tuple[int, int]
) -> DailySeries:
    """Histogram of hours from each scan type to the parcel's next scan, by day the gap closed."""
    ev, parcel = by_parcel_and_time(events, ("event_time", "event_type"))
    same = (parcel[1:] == parcel[:-1]) & (parcel[1:] >= 0)
    t = seconds(ev["event_time"])
    kind = texts_of(ev["event_type"])[:-1][same]
    gap_h = ((t[1:] - t[:-1]) / HOUR)[same]
    closed_day = np.floor(t[1:][same] / DAY).astype(np.int64)
    keys = sorted_keys(kind) if len(kind) else pd.Index(["CREATED"])
    bins = np.clip(gap_h // GAP_BIN_H, 0, GAP_BINS - 1).astype(np.int64)
    sums = windowed(
        closed_day,
        positions_in(ev["event_type"], keys)[:-1][same],
        len(keys),
        days,
        GAP_DAYS,
        {"gaps": np.ones(len(kind))},
        bins=(bins, GAP_BINS),
    )
    return DailySeries(days[0], keys, sums)


def _compute(snap: Snapshots, tables: Tables, context: Context, done: Columns) -> Columns:
    return progress_features(snap, tables.scan_events, context, done["route_n_hubs"])


FEATURES = (
    feature("prog_last_event", NAME, "Type of the last scan.", EVENTS, "category"),
    feature("prog_last_location", NAME, "Location of the last scan.", EVENTS, "category"),
    feature("prog_stage", NAME, "Journey stage 0 (none) .. 7 (delivered).", EVENTS),
    feature("prog_n_events", NAME, "Scans so far.", EVENTS),
    feature("prog_hours_since_scan", NAME, "Hours since the last scan.", EVENTS),
    feature("prog_normal_gap_h", NAME, "Median hours to the next scan after this scan type.", DONE),
    feature(
        "prog_gap_ratio", NAME, "Hours since the last scan over the normal gap (stalling).", EVENTS
    ),
    feature(
        "prog_hours_to_promise", NAME, "Hours left until the promise (negative: overdue).", STATIC
    ),
    feature("prog_hours_since_created", NAME, "Age of the parcel.", STATIC),
    feature("prog_hubs_passed", NAME, "Hubs the parcel has left.", EVENTS),
    feature("prog_remaining_legs", NAME, "Expected hubs still ahead.", EVENTS),
    feature(
        "prog_failed_attempts",
        NAME,
        "Failed delivery attempts so far.",
        EVENTS,
        reason="DELIVERY_FAILED",
    ),
    feature("prog_exceptions", NAME, "Exception scans so far (holds, stoppages).", EVENTS),
)

FAMILY = Family(NAME, "STALLED", FEATURES, _compute, {"gaps": gap_history})
