"""History family: how this lane, seller and region have done lately.

From shipments and scans completed before the snapshot's UTC day, over trailing windows
(28 days; 2 for the promises missed at the destination and origin, which tell a disruption
from a slow lane within a day). Thin keys are smoothed toward the network-wide value (`*`)
with a pseudo-count, so a new lane or seller gets the network's numbers, not noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.tables import Tables
from features.family import DONE, DUE, Family, feature
from features.series import (
    DAY,
    HOUR,
    Context,
    DailySeries,
    lookup,
    sorted_keys,
    value,
    windowed,
)
from features.snapshots import Columns, Snapshots, seconds, shipment_positions, texts_of

NAME = "history"
HISTORY_DAYS = 28  # trailing window of lane and seller histories
DUE_DAYS = 2  # missed promises: a short window, so a stoppage or storm shows within a day
TRANSIT_BIN_H, TRANSIT_BINS = 4, 60  # lane transit-time histogram: 4 h bins up to 240 h
LANE_PRIOR, SELLER_PRIOR, DUE_PRIOR = 20.0, 10.0, 20.0
MIN_LANE_FOR_QUANTILES = 10


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
    lanes = context.series["lane"]
    row, col, star = lookup(context, "lane", lane, day)
    n, late = value(lanes, "n", row, col), value(lanes, "late", row, col)
    g_n, g_late = value(lanes, "n", row, star), value(lanes, "late", row, star)
    g_rate = np.where(g_n > 0, g_late / np.maximum(g_n, 1), np.nan)
    lane_hist = np.where((col >= 0)[:, None], lanes.sums["hist"][row, np.maximum(col, 0)], 0.0)
    global_hist = lanes.sums["hist"][row, star]
    thin = (n < MIN_LANE_FOR_QUANTILES)[:, None]
    hist = np.where(thin, global_hist, lane_hist)

    sellers = context.series["seller"]
    s_row, s_col, s_star = lookup(context, "seller", snap.column("seller_id"), day)
    s_n, s_sum = value(sellers, "n", s_row, s_col), value(sellers, "handover_h", s_row, s_col)
    g_sn, g_ssum = value(sellers, "n", s_row, s_star), value(sellers, "handover_h", s_row, s_star)
    g_mean = np.where(g_sn > 0, g_ssum / np.maximum(g_sn, 1), np.nan)

    due = context.series["due"]
    d_row, d_col, d_star = lookup(context, "due", _prefixed("d:", snap.column("dest_region")), day)
    _, o_col, _ = lookup(context, "due", _prefixed("o:", snap.column("origin_region")), day)
    g_due, g_missed = value(due, "n", d_row, d_star), value(due, "missed", d_row, d_star)
    g_missed_rate = np.where(g_due > 0, g_missed / np.maximum(g_due, 1), np.nan)

    def missed_rate(col: np.ndarray) -> np.ndarray:
        n_due, missed = value(due, "n", d_row, col), value(due, "missed", d_row, col)
        return (missed + DUE_PRIOR * g_missed_rate) / (n_due + DUE_PRIOR)

    return {
        "hist_lane_late_rate": (late + LANE_PRIOR * g_rate) / (n + LANE_PRIOR),
        "hist_lane_n": n,
        "hist_lane_transit_p50_h": _quantile(hist, 0.5),
        "hist_lane_transit_p90_h": _quantile(hist, 0.9),
        "hist_seller_handover_h": (s_sum + SELLER_PRIOR * g_mean) / (s_n + SELLER_PRIOR),
        "hist_seller_n": s_n,
        "hist_dest_missed_rate": missed_rate(d_col),
        "hist_origin_missed_rate": missed_rate(o_col),
        "hist_network_missed_rate": g_missed_rate,
    }


def lane_history(ships: pd.DataFrame, events: pd.DataFrame, days: tuple[int, int]) -> DailySeries:
    """Deliveries per lane and UTC day: count, late count, transit-time histogram."""
    done = ships[ships["delivered_at"].notna()]
    lane = (
        done["origin_region"].astype("str") + ">" + done["dest_region"].astype("str")
    ).to_numpy()
    keys = sorted_keys(lane.astype(str), ["*"])
    delivered = seconds(done["delivered_at"])
    day = np.floor(delivered / DAY).astype(np.int64)
    late = (delivered > seconds(done["promised_at"])).astype(float)
    transit_h = (delivered - seconds(done["created_at"])) / HOUR
    bins = np.clip(transit_h // TRANSIT_BIN_H, 0, TRANSIT_BINS - 1).astype(np.int64)
    ones = np.ones(len(done))
    col = keys.get_indexer(lane)
    star = np.full(len(done), keys.get_loc("*"))
    both_day, both_key = np.concatenate([day, day]), np.concatenate([col, star])
    sums = windowed(
        both_day,
        both_key,
        len(keys),
        days,
        HISTORY_DAYS,
        {"n": np.tile(ones, 2), "late": np.tile(late, 2)},
    )
    sums.update(
        windowed(
            both_day,
            both_key,
            len(keys),
            days,
            HISTORY_DAYS,
            {"hist": np.tile(ones, 2)},
            bins=(np.tile(bins, 2), TRANSIT_BINS),
        )
    )
    return DailySeries(days[0], keys, sums)


def seller_history(ships: pd.DataFrame, events: pd.DataFrame, days: tuple[int, int]) -> DailySeries:
    """Pickups per seller and UTC day: count and total hours from creation to pickup."""
    picked = events[events["event_type"] == "PICKED_UP"].drop_duplicates("shipment_id")
    # Each pickup's shipment located once; an unknown one (or a partition with no shipments)
    # reads NaN.
    where = shipment_positions(picked["shipment_id"], ships)
    created = np.append(seconds(ships["created_at"]), np.nan)[where]
    seller = np.append(texts_of(ships["seller_id"]), np.nan)[where]
    handover_h = (seconds(picked["event_time"]) - created) / HOUR
    keys = sorted_keys(seller.astype(str), ["*"])
    day = np.floor(seconds(picked["event_time"]) / DAY).astype(np.int64)
    ok = ~np.isnan(handover_h)
    col = keys.get_indexer(seller)
    star = np.full(len(col), keys.get_loc("*"))
    sums = windowed(
        np.concatenate([day[ok], day[ok]]),
        np.concatenate([col[ok], star[ok]]),
        len(keys),
        days,
        HISTORY_DAYS,
        {"n": np.ones(2 * ok.sum()), "handover_h": np.tile(handover_h[ok], 2)},
    )
    return DailySeries(days[0], keys, sums)


def due_history(ships: pd.DataFrame, events: pd.DataFrame, days: tuple[int, int]) -> DailySeries:
    """Promises that fell due per UTC day, and how many were missed, by destination and origin.

    A promise's fate is known the moment it falls due (delivered by then or not), so this
    follows a stoppage or a storm a day after it starts, where lane histories wait for the
    late parcels to be delivered. Keys: `d:<dest region>`, `o:<origin region>` and `*`.
    """
    due = ships[ships["final_status"].astype("str") != "CANCELED"]
    promised = seconds(due["promised_at"])
    delivered = seconds(due["delivered_at"])
    missed = ~(delivered <= promised)  # not delivered (yet) by the promise: missed
    day = np.floor(promised / DAY).astype(np.int64)
    # An unknown region pools under "?", a key no snapshot reads (it takes the prior).
    dest = ("d:" + due["dest_region"].astype("str").fillna("?")).to_numpy(dtype=object)
    origin = ("o:" + due["origin_region"].astype("str").fillna("?")).to_numpy(dtype=object)
    keys = sorted_keys(dest, origin, ["*"])
    star = np.full(len(due), keys.get_loc("*"))
    sums = windowed(
        np.tile(day, 3),
        np.concatenate([keys.get_indexer(dest), keys.get_indexer(origin), star]),
        len(keys),
        days,
        DUE_DAYS,
        {"n": np.ones(3 * len(due)), "missed": np.tile(missed.astype(float), 3)},
    )
    return DailySeries(days[0], keys, sums)


def _compute(snap: Snapshots, tables: Tables, context: Context, done: Columns) -> Columns:
    return history_features(snap, context, done["route_lane"])


FEATURES = (
    feature("hist_lane_late_rate", NAME, "Lane late rate, trailing 28 days, smoothed.", DONE),
    feature("hist_lane_n", NAME, "Lane deliveries in the trailing window.", DONE),
    feature("hist_lane_transit_p50_h", NAME, "Lane median creation-to-delivery hours.", DONE),
    feature(
        "hist_lane_transit_p90_h", NAME, "Lane 90th percentile creation-to-delivery hours.", DONE
    ),
    feature(
        "hist_seller_handover_h",
        NAME,
        "Seller mean creation-to-pickup hours, smoothed.",
        DONE,
        reason="SELLER",
    ),
    feature("hist_seller_n", NAME, "Seller pickups in the trailing window.", DONE, reason="SELLER"),
    feature(
        "hist_dest_missed_rate",
        NAME,
        "Share of promises to the destination region that fell due in the last 2 days and "
        "were missed, smoothed.",
        DUE,
    ),
    feature(
        "hist_origin_missed_rate",
        NAME,
        "Share of promises from the origin region due in the last 2 days that were missed.",
        DUE,
    ),
    feature(
        "hist_network_missed_rate",
        NAME,
        "Share of all promises due in the last 2 days that were missed.",
        DUE,
    ),
)

FAMILY = Family(
    NAME,
    "LANE_DELAYS",
    FEATURES,
    _compute,
    {"lane": lane_history, "seller": seller_history, "due": due_history},
)
