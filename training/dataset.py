"""Training data: snapshots of parcels in flight, their labels, and time-based splits.

A snapshot is (shipment_id, as_of) while the parcel is in flight: at creation, right after
each scan, and every few hours in between (docs/architecture.md, "Point in time"). Labels
follow the contract: `late = delivered_at > promised_at` (a returned parcel is late),
`remaining_h = delivered_at - as_of`. Splits are by time, never random: train on the earliest
period, calibrate on the next, evaluate on the latest, each only on shipments whose outcome
was known before the next period begins (so no label from the future trains the past).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contract.schema import TIMESTAMP_DTYPE
from contract.tables import Tables

HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class SnapshotPlan:
    """When to look at a parcel.

    Attributes:
        every_hours: Regular in-flight snapshots this many hours apart, from creation (0:
            none; only creation and scans, e.g. Olist's purchase and hand-over stages).
        after_scans: Also snapshot right after every scan.
        max_per_shipment: Cap per parcel (a stalled parcel does not flood the data); the
            creation and scan snapshots are kept first.
    """

    every_hours: float = 6.0
    after_scans: bool = True
    max_per_shipment: int = 40


def sample_snapshots(
    tables: Tables, now: pd.Timestamp | None = None, plan: SnapshotPlan | None = None
) -> pd.DataFrame:
    """Snapshots of every parcel while it was in flight (before delivery and before `now`).

    Args:
        tables: Canonical tables.
        now: The data's "now" (default: the latest scan). Nothing at or after it is sampled.
        plan: Snapshot schedule.

    Returns:
        Columns shipment_id, as_of, stage (`CREATED`, the scan type just seen, or
        `IN_FLIGHT` for a regular snapshot), sorted by shipment and time.
    """
    plan = plan or SnapshotPlan()
    ships = tables.shipments
    events = tables.scan_events
    if now is None:
        now = events["event_time"].max() if len(events) else ships["created_at"].max()
    # A parcel is in flight from creation until delivery (or now, or its last scan if returned).
    last_scan = events.groupby("shipment_id", sort=False)["event_time"].max()
    returned = (ships["final_status"] == "RETURNED").fillna(False).to_numpy(dtype=bool)
    end = ships["delivered_at"].fillna(now).where(~returned, ships["shipment_id"].map(last_scan))
    end = end.fillna(now).clip(upper=now)
    ends = pd.Series(end.to_numpy(), index=ships["shipment_id"].to_numpy())

    parts = [
        pd.DataFrame(
            {"shipment_id": ships["shipment_id"], "as_of": ships["created_at"], "stage": "CREATED"}
        )
    ]
    if plan.after_scans and len(events):
        scans = events[events["event_type"] != "CREATED"]
        parts.append(
            pd.DataFrame(
                {
                    "shipment_id": scans["shipment_id"].reset_index(drop=True),
                    "as_of": scans["event_time"].reset_index(drop=True),
                    "stage": scans["event_type"].astype("str").reset_index(drop=True),
                }
            )
        )
    if plan.every_hours > 0:
        parts.append(_regular(ships, end, plan.every_hours))
    snaps = pd.concat(parts, ignore_index=True)
    in_flight = snaps["as_of"] < snaps["shipment_id"].map(ends)
    snaps = snaps[in_flight & (snaps["as_of"] < now)]
    snaps = snaps.sort_values(["shipment_id", "as_of"], kind="stable")
    snaps = snaps.drop_duplicates(["shipment_id", "as_of"])
    snaps = _cap(snaps, plan.max_per_shipment)
    return snaps.reset_index(drop=True).astype({"as_of": TIMESTAMP_DTYPE, "stage": "category"})


def _regular(ships: pd.DataFrame, end: pd.Series, every_hours: float) -> pd.DataFrame:
    """Snapshots every `every_hours` from creation until the parcel's end."""
    span_h = ((end - ships["created_at"]) / HOUR).to_numpy(dtype=float)
    count = np.maximum(np.floor(np.nan_to_num(span_h) / every_hours), 0).astype(np.int64)
    repeat = np.repeat(np.arange(len(ships)), count)
    step = np.arange(len(repeat)) - np.repeat(np.cumsum(count) - count, count) + 1
    offset = pd.to_timedelta(np.round(step * every_hours * 3.6e9).astype("int64"), unit="us")
    as_of = ships["created_at"].iloc[repeat].reset_index(drop=True) + offset
    return pd.DataFrame(
        {
            "shipment_id": ships["shipment_id"].to_numpy()[repeat],
            "as_of": as_of,
            "stage": "IN_FLIGHT",
        }
    )


def _cap(snaps: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most `limit` snapshots per parcel: creation and scans first, then regular ones."""
    regular = snaps["stage"] == "IN_FLIGHT"
    by_parcel = snaps["shipment_id"]
    scans = (~regular).groupby(by_parcel, sort=False).transform("sum")
    regular_rank = regular.groupby(by_parcel, sort=False).cumsum()
    return snaps[~regular | (regular_rank <= limit - scans)]


def labels(
    snapshots: pd.DataFrame, shipments: pd.DataFrame, now: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Labels of each snapshot: late, remaining_h and whether the outcome is known.

    Args:
        snapshots: Columns shipment_id, as_of.
        shipments: Canonical shipments with their outcomes.
        now: The data's "now": a parcel still undelivered past its promise at `now` is known
            late (leaving it out would hide the longest stalls). None: only finished parcels.

    Returns:
        Columns `late` (bool; returned and overdue parcels are late, canceled ones unknown),
        `remaining_h` (hours from as_of to delivery; NaN when not delivered) and `known` (the
        late flag is settled).
    """
    ships = shipments.set_index("shipment_id")
    delivered = snapshots["shipment_id"].map(ships["delivered_at"])
    promised = snapshots["shipment_id"].map(ships["promised_at"])
    status = snapshots["shipment_id"].map(ships["final_status"].astype("str"))
    returned = (status == "RETURNED").to_numpy()
    canceled = (status == "CANCELED").to_numpy()  # never promised anything in the end
    overdue = np.zeros(len(snapshots), dtype=bool)
    if now is not None:
        overdue = delivered.isna().to_numpy() & (promised < now).to_numpy() & ~canceled
    late = ((delivered > promised).fillna(False).to_numpy(dtype=bool)) | returned | overdue
    remaining = ((delivered - snapshots["as_of"]) / HOUR).to_numpy(dtype=float)
    known = delivered.notna().to_numpy() | returned | overdue
    return pd.DataFrame(
        {"late": late, "remaining_h": remaining, "known": known}, index=snapshots.index
    )


@dataclass(frozen=True)
class TimeSplit:
    """Boolean masks over snapshots, and the boundaries that define them.

    Attributes:
        train, calibrate, evaluate: Snapshots whose late flag each fold may use.
        train_eta, calibrate_eta, evaluate_eta: The subset whose delivery time (so
            `remaining_h`) was known before the fold's end: what the ETA models may use.
        boundaries: Start of calibration, start of evaluation, and the data's "now" (UTC).
    """

    train: np.ndarray
    calibrate: np.ndarray
    evaluate: np.ndarray
    train_eta: np.ndarray
    calibrate_eta: np.ndarray
    evaluate_eta: np.ndarray
    boundaries: tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]

    def subset(self, keep: np.ndarray, rows: np.ndarray) -> TimeSplit:
        """The split of the snapshots `keep` selects, limited to `rows` (a mask over those)."""
        return TimeSplit(
            self.train[keep] & rows,
            self.calibrate[keep] & rows,
            self.evaluate[keep] & rows,
            self.train_eta[keep] & rows,
            self.calibrate_eta[keep] & rows,
            self.evaluate_eta[keep] & rows,
            self.boundaries,
        )


def time_split(
    snapshots: pd.DataFrame,
    shipments: pd.DataFrame,
    calibrate_from: pd.Timestamp,
    evaluate_from: pd.Timestamp,
    now: pd.Timestamp,
) -> TimeSplit:
    """Split snapshots by the creation time of their shipment, purging unknown outcomes.

    A shipment created in [start, calibrate_from) trains only if its late flag was known before
    `calibrate_from`; one created in [calibrate_from, evaluate_from) calibrates only if known
    before `evaluate_from`; one created from `evaluate_from` evaluates if known by `now`. A
    late flag is known at delivery when on time, and at the promise when late (so late parcels
    still in flight are kept). The ETA masks further need the delivery itself before the end.

    Raises:
        ValueError: The boundaries are not in time order.
    """
    if not calibrate_from < evaluate_from <= now:
        raise ValueError(
            "need calibrate_from < evaluate_from <= now, "
            f"got {calibrate_from}, {evaluate_from}, {now}"
        )
    ships = shipments.set_index("shipment_id")
    created = snapshots["shipment_id"].map(ships["created_at"])
    known = snapshots["shipment_id"].map(_outcome_time(shipments))
    delivered = snapshots["shipment_id"].map(ships["delivered_at"])

    def mask(values: pd.Series) -> np.ndarray:
        return values.fillna(False).to_numpy(dtype=bool)

    train = mask((created < calibrate_from) & (known < calibrate_from))
    calibrate = mask(
        (created >= calibrate_from) & (created < evaluate_from) & (known < evaluate_from)
    )
    evaluate = mask((created >= evaluate_from) & (known <= now))
    return TimeSplit(
        train,
        calibrate,
        evaluate,
        train & mask(delivered < calibrate_from),
        calibrate & mask(delivered < evaluate_from),
        evaluate & mask(delivered <= now),
        (calibrate_from, evaluate_from, now),
    )


def settled_by(snapshots: pd.DataFrame, shipments: pd.DataFrame, now: pd.Timestamp) -> np.ndarray:
    """Snapshots whose late flag was settled by `now` (what a refit at `now` may learn from)."""
    known = snapshots["shipment_id"].map(_outcome_time(shipments))
    return (known <= now).fillna(False).to_numpy(dtype=bool)


def last_outcome(snapshots: pd.DataFrame, shipments: pd.DataFrame) -> pd.Timestamp:
    """The latest outcome (settled late flag or delivery) of the snapshots' shipments."""
    ships = shipments[shipments["shipment_id"].isin(set(snapshots["shipment_id"]))]
    latest = [_outcome_time(ships).max(), ships["delivered_at"].max()]
    return max(t for t in latest if pd.notna(t))


def _outcome_time(shipments: pd.DataFrame) -> pd.Series:
    """When each late flag became known.

    On time: at delivery. Late: at the promise, once it passed undelivered (delivered later,
    returned or still in flight). Canceled parcels never settle.
    """
    known = shipments["delivered_at"].where(
        shipments["delivered_at"] <= shipments["promised_at"], shipments["promised_at"]
    )
    known = known.mask(shipments["final_status"].astype("str") == "CANCELED")
    return pd.Series(known.to_numpy(), index=shipments["shipment_id"].to_numpy())


def default_boundaries(
    shipments: pd.DataFrame,
    now: pd.Timestamp,
    calibrate_share: float = 0.15,
    evaluate_share: float = 0.2,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Calibration and evaluation starts: the last shares of the creation period."""
    first = shipments["created_at"].min()
    span = now - first
    evaluate_from = now - span * evaluate_share
    return evaluate_from - span * calibrate_share, evaluate_from
