"""History family: how this lane, seller, postcode area and region have done lately.

From shipments and scans completed before the snapshot's UTC day, over trailing windows
(28 days; 90 for postcode areas; 2 for the promises missed at the destination and origin,
which tell a disruption from a slow lane within a day). Thin keys are smoothed toward the
network-wide value (`*`) with a pseudo-count, so a new lane or seller gets the network's
numbers, not noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.context import TRANSIT_BIN_H, Context, DailySeries, postcode_area
from features.snapshots import Columns, Snapshots, map_values

LANE_PRIOR, SELLER_PRIOR, POSTCODE_PRIOR, DUE_PRIOR = 20.0, 10.0, 50.0, 20.0
MIN_LANE_FOR_QUANTILES = 10


def _lookup(
    context: Context, name: str, key: pd.Series | np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column or -1, column of '*') of each snapshot in the context's `name` series."""
    series: DailySeries = getattr(context, name)
    positions = context.memo(f"{name}.keys", lambda: {k: i for i, k in enumerate(series.keys)})
    col = np.asarray(map_values(key, positions, -1), dtype=np.int64)
    return series.rows(day), col, np.full(len(day), positions["*"])


def _value(series: DailySeries, name: str, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    return np.where(col >= 0, series.sums[name][row, np.maximum(col, 0)], 0.0).astype(float)


def _quantile(hist: np.ndarray, q: float) -> np.ndarray:
    total = hist.sum(axis=1)
    b = (np.cumsum(hist, axis=1) >= q * total[:, None]).argmax(axis=1)
    return np.where(total > 0, (b + 0.5) * TRANSIT_BIN_H, np.nan)


def _prefixed(prefix: str, regions: np.ndarray) -> np.ndarray:
    """Region keys of the missed-promise series (None stays None: an unknown region)."""
    return np.array(
        [
            None if r is None or r != r else prefix + str(r)
            for r in np.asarray(regions, dtype=object)
        ],
        dtype=object,
    )


def history_features(snap: Snapshots, context: Context, lane: np.ndarray) -> Columns:
    """History columns for every snapshot."""
    day = np.floor(snap.as_of_s / 86400).astype(np.int64)
    lanes = context.lane
    row, col, star = _lookup(context, "lane", lane, day)
    n, late = _value(lanes, "n", row, col), _value(lanes, "late", row, col)
    g_n, g_late = _value(lanes, "n", row, star), _value(lanes, "late", row, star)
    g_rate = np.where(g_n > 0, g_late / np.maximum(g_n, 1), np.nan)
    lane_hist = np.where((col >= 0)[:, None], lanes.sums["hist"][row, np.maximum(col, 0)], 0.0)
    global_hist = lanes.sums["hist"][row, star]
    thin = (n < MIN_LANE_FOR_QUANTILES)[:, None]
    hist = np.where(thin, global_hist, lane_hist)

    sellers = context.seller
    s_row, s_col, s_star = _lookup(context, "seller", snap.column("seller_id"), day)
    s_n, s_sum = _value(sellers, "n", s_row, s_col), _value(sellers, "handover_h", s_row, s_col)
    g_sn, g_ssum = _value(sellers, "n", s_row, s_star), _value(sellers, "handover_h", s_row, s_star)
    g_mean = np.where(g_sn > 0, g_ssum / np.maximum(g_sn, 1), np.nan)

    areas = context.postcode
    p_row, p_col, p_star = _lookup(
        context,
        "postcode",
        postcode_area(snap.column("dest_postcode")),
        day,
    )
    attempts, failed = (
        _value(areas, "attempts", p_row, p_col),
        _value(areas, "failed", p_row, p_col),
    )
    g_att, g_fail = _value(areas, "attempts", p_row, p_star), _value(areas, "failed", p_row, p_star)
    g_fail_rate = np.where(g_att > 0, g_fail / np.maximum(g_att, 1), np.nan)
    due = context.due
    d_row, d_col, d_star = _lookup(context, "due", _prefixed("d:", snap.column("dest_region")), day)
    _, o_col, _ = _lookup(context, "due", _prefixed("o:", snap.column("origin_region")), day)
    g_due, g_missed = _value(due, "n", d_row, d_star), _value(due, "missed", d_row, d_star)
    g_missed_rate = np.where(g_due > 0, g_missed / np.maximum(g_due, 1), np.nan)

    def missed_rate(col: np.ndarray) -> np.ndarray:
        n_due, missed = _value(due, "n", d_row, col), _value(due, "missed", d_row, col)
        return (missed + DUE_PRIOR * g_missed_rate) / (n_due + DUE_PRIOR)

    return {
        "hist_dest_missed_rate": missed_rate(d_col),
        "hist_origin_missed_rate": missed_rate(o_col),
        "hist_network_missed_rate": g_missed_rate,
        "hist_lane_late_rate": (late + LANE_PRIOR * g_rate) / (n + LANE_PRIOR),
        "hist_lane_n": n,
        "hist_lane_transit_p50_h": _quantile(hist, 0.5),
        "hist_lane_transit_p90_h": _quantile(hist, 0.9),
        "hist_seller_handover_h": (s_sum + SELLER_PRIOR * g_mean) / (s_n + SELLER_PRIOR),
        "hist_seller_n": s_n,
        "addr_postcode_fail_rate": (failed + POSTCODE_PRIOR * g_fail_rate)
        / (attempts + POSTCODE_PRIOR),
    }
