"""The post-incident review (사후 평가): what stalled, whom it hit, how early we knew, what we said.

From the watch's records only: scans (where parcels sat and for how long), the prediction log
(when each parcel was first flagged), outcomes and the outbox. The simulator's hidden causes,
when given, add what really happened next to the reasons the model gave.

A parcel is *stuck* at a place when it sat there (from its arrival scan to its next scan, or
to the end of the review if it has not moved) at least `Rules.stuck_hours`, and at least
twice the place's usual 95th percentile; a place *stalled* when the share of its arrivals
that got stuck jumped (docs/monitoring.md, "Incident review").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from serving.alerts.policy import AlertKind
from serving.alerts.store import AlertStore
from serving.monitoring import records
from serving.monitoring.quality import LATE_ALERTS, outcomes
from serving.watch.store import StateStore
from training.reasons import REASONS, agreement

HOUR = pd.Timedelta(hours=1)
ARRIVALS = ("HUB_IN", "TERMINAL_IN")


@dataclass(frozen=True)
class Rules:
    """What counts as stuck, stalled and jumped.

    Attributes:
        baseline_days: The days before the review that say what is usual.
        stuck_hours: The least time at one place that counts as stuck.
        stalled_share: A place stalled when at least this share of its arrivals got stuck...
        stalled_ratio: ... and at least this many times its usual share...
        stalled_parcels: ... and at least this many parcels.
        region_jump: A region's late rate jumped when it rose by this much (absolute)...
        region_ratio: ... and to at least this multiple of its usual rate...
        region_parcels: ... over at least this many parcels promised in the review.
    """

    baseline_days: float = 7.0
    stuck_hours: float = 12.0
    stalled_share: float = 0.05
    stalled_ratio: float = 3.0
    stalled_parcels: int = 5
    region_jump: float = 0.10
    region_ratio: float = 1.5
    region_parcels: int = 20


@dataclass
class Incident:
    """A review's figures (see `review`)."""

    start: pd.Timestamp
    end: pd.Timestamp
    timezone: str
    region: str | None
    hub: str | None
    places: pd.DataFrame
    regions: pd.DataFrame
    affected: pd.DataFrame
    summary: dict[str, float | int | str | None]
    reasons: pd.DataFrame
    causes: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def stalled(self) -> list[str]:
        """The places that stalled, worst first."""
        return self.places.loc[self.places["stalled"], "location_id"].tolist()


def _stays(scans: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """One row per arrival scan: where, when, and how long the parcel stayed (till `end`)."""
    arrivals = scans[scans["event_type"].astype(str).isin(ARRIVALS)].copy()
    left = arrivals["next_time"].where(arrivals["next_time"].notna(), end)
    arrivals["hours"] = ((left.clip(upper=end) - arrivals["event_time"]) / HOUR).astype(float)
    arrivals["moved"] = arrivals["next_time"].notna() & (arrivals["next_time"] <= end)
    return arrivals


def _places(stays: pd.DataFrame, start: pd.Timestamp, rules: Rules) -> pd.DataFrame:
    """Per place: arrivals, usual and review dwell, stuck parcels and whether it stalled."""
    before = stays[stays["event_time"] < start]
    during = stays[stays["event_time"] >= start]
    usual = before.groupby("location_id")["hours"].quantile(0.95)
    limit = np.maximum(rules.stuck_hours, 2 * usual)
    rows = []
    for place, g in during.groupby("location_id", sort=True):
        cutoff = float(limit.get(place, rules.stuck_hours))
        base = before[before["location_id"] == place]
        stuck = g["hours"] >= cutoff
        base_share = float((base["hours"] >= cutoff).mean()) if len(base) else 0.0
        days = max(
            (start - base["event_time"].min()) / pd.Timedelta(days=1) if len(base) else 1.0, 1.0
        )
        rows.append(
            {
                "location_id": place,
                "arrivals": len(g),
                "usual_arrivals_per_day": len(base) / days,
                "dwell_p50_h": float(g["hours"].median()),
                "usual_dwell_p50_h": float(base["hours"].median()) if len(base) else np.nan,
                "dwell_p90_h": float(g["hours"].quantile(0.9)),
                "usual_dwell_p90_h": float(base["hours"].quantile(0.9)) if len(base) else np.nan,
                "stuck_hours": cutoff,
                "stuck": int(stuck.sum()),
                "stuck_share": float(stuck.mean()),
                "usual_stuck_share": base_share,
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame.assign(stalled=pd.Series(dtype=bool))
    frame["stalled"] = (
        (frame["stuck_share"] >= rules.stalled_share)
        & (frame["stuck_share"] >= rules.stalled_ratio * frame["usual_stuck_share"])
        & (frame["stuck"] >= rules.stalled_parcels)
    )
    return frame.sort_values(["stalled", "stuck"], ascending=False).reset_index(drop=True)


def _late(frame: pd.DataFrame, now: pd.Timestamp) -> pd.Series:
    """Late as known at `now` (NaN: in flight before its promise)."""
    return pd.Series(outcomes(frame, now)[1], index=frame.index, dtype=float)


def _regions(
    parcels: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, rules: Rules
) -> pd.DataFrame:
    """Late rate per destination region: parcels promised in the review against before."""
    parcels = parcels.assign(late=_late(parcels, end))
    review = parcels[(parcels["promised_at"] >= start) & (parcels["promised_at"] < end)]
    usual = parcels[parcels["promised_at"] < start]
    rate = review.groupby("dest_region")["late"].agg(["mean", "size"])
    before = usual.groupby("dest_region")["late"].mean()
    frame = pd.DataFrame(
        {
            "dest_region": rate.index,
            "parcels": rate["size"].to_numpy(),
            "late_rate": rate["mean"].to_numpy(),
            "usual_late_rate": before.reindex(rate.index).to_numpy(),
        }
    )
    frame["jumped"] = (
        (frame["late_rate"] - frame["usual_late_rate"] >= rules.region_jump)
        & (frame["late_rate"] >= rules.region_ratio * frame["usual_late_rate"])
        & (frame["parcels"] >= rules.region_parcels)
    )
    return frame.sort_values("late_rate", ascending=False).reset_index(drop=True)


def _first_reason(raw: str) -> str | None:
    pairs = json.loads(raw) if raw else []
    return str(pairs[0][0]) if pairs else None


def review(
    store: StateStore,
    outbox: AlertStore,
    threshold: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
    timezone: str,
    region: str | None = None,
    hub: str | None = None,
    causes: pd.DataFrame | None = None,
    rules: Rules | None = None,
) -> Incident:
    """Review [start, end): what stalled, the parcels it hit, how early they were flagged.

    Args:
        store: The watch's state store.
        outbox: The alert outbox.
        threshold: The served model's at-risk threshold ("flagged").
        start: Start of the review.
        end: End of the review (outcomes as known then).
        timezone: The network's zone, for the report's times.
        region: Only parcels bound for this region (and places in it).
        hub: Only this place.
        causes: The simulator's hidden causes (shipment_id, cause, delay_h), if known.
        rules: What counts as stuck, stalled and jumped.

    Raises:
        ValueError: An empty window, or a hub or region the records never saw.
    """
    rules = rules or Rules()
    if start >= end:
        raise ValueError(f"--from {start.isoformat()} must be before --to {end.isoformat()}")
    baseline = start - pd.Timedelta(days=rules.baseline_days)
    scans = records.scans_between(store, baseline, end)
    if scans.empty:
        raise ValueError("the state store has no scans in that window: replay or ingest first")
    if hub is not None and hub not in set(scans["location_id"].dropna().astype(str)):
        raise ValueError(f"--hub {hub!r}: no scan there in that window")
    if region is not None and region not in set(scans["dest_region"].dropna().astype(str)):
        raise ValueError(f"--region {region!r}: no parcel bound there in that window")
    scans = scans[scans["event_time"] < end]
    if region is not None:
        scans = scans[scans["dest_region"] == region]
    stays = _stays(scans, end)
    if hub is not None:
        stays = stays[stays["location_id"] == hub]
    places = _places(stays, start, rules)
    parcels = scans.drop_duplicates("shipment_id")[
        ["shipment_id", "promised_at", "dest_region", "delivered_at", "final_status"]
    ]
    regions = _regions(parcels, start, end, rules)
    watched = places.loc[places["stalled"], "location_id"] if hub is None else pd.Series([hub])
    cutoff = dict(zip(places.get("location_id", []), places.get("stuck_hours", []), strict=True))
    during = stays[(stays["event_time"] >= start) & stays["location_id"].isin(watched)]
    limit = np.array([cutoff.get(str(p), np.inf) for p in during["location_id"]], dtype=float)
    stuck = during[during["hours"].to_numpy(dtype=float) >= limit]
    affected = (
        stuck.sort_values("event_time")
        .drop_duplicates("shipment_id")
        .rename(columns={"location_id": "stuck_at", "event_time": "arrived_at"})
    )
    affected = _flags(store, affected, threshold, baseline, end)
    affected = _with_alerts(outbox, affected)
    affected["late"] = _late(affected, end)
    summary = _summary(affected)
    reasons, cause_table = _reasons_against_causes(affected, causes)
    if causes is not None and len(affected):
        summary["reason_agreement"] = _agreement(affected, causes)
    return Incident(
        start, end, timezone, region, hub, places, regions, affected, summary, reasons, cause_table
    )


def _flags(
    store: StateStore,
    affected: pd.DataFrame,
    threshold: float,
    since: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """When each affected parcel was first flagged, and the reasons the model gave then."""
    log = records.logged_predictions(store, since, end)
    log = log[log["shipment_id"].isin(set(affected["shipment_id"])) & (log["risk"] >= threshold)]
    first = log.sort_values("as_of").drop_duplicates("shipment_id").set_index("shipment_id")
    out = affected.copy()
    ids = out["shipment_id"]
    out["flagged_at"] = first["as_of"].reindex(ids).set_axis(out.index)
    out["flag_reasons"] = first["reasons"].reindex(ids).set_axis(out.index)
    out["flag_reason"] = out["flag_reasons"].map(
        lambda r: _first_reason(r) if isinstance(r, str) else None
    )
    out["lead_h"] = (out["promised_at"] - out["flagged_at"]) / HOUR
    out["after_arrival_h"] = (out["flagged_at"] - out["arrived_at"]) / HOUR
    return out


def _with_alerts(outbox: AlertStore, affected: pd.DataFrame) -> pd.DataFrame:
    alerts = records.sent_alerts(outbox, set(affected["shipment_id"]))
    late_alerts = alerts[alerts["kind"].isin(LATE_ALERTS)]
    first = late_alerts.groupby("shipment_id")["created_at"].min()
    back = alerts[alerts["kind"] == AlertKind.BACK_ON_TRACK.value].groupby("shipment_id").size()
    out = affected.copy()
    out["alerted_at"] = first.reindex(out["shipment_id"]).set_axis(out.index)
    out["back_on_track"] = back.reindex(out["shipment_id"]).fillna(0).astype(int).to_numpy()
    return out


def _summary(affected: pd.DataFrame) -> dict[str, float | int | str | None]:
    flagged = affected["flagged_at"].notna()
    before = flagged & (affected["flagged_at"] <= affected["promised_at"])
    alerted = affected["alerted_at"].notna()
    late = affected["late"] == 1

    def median(values: pd.Series) -> float | None:
        return None if values.dropna().empty else float(values.median())

    return {
        "parcels": len(affected),
        "late": int(late.sum()),
        "flagged": int(flagged.sum()),
        "flagged_before_promise": int(before.sum()),
        "lead_h_median": median(affected.loc[before, "lead_h"]),
        "flagged_after_arrival_h_median": median(affected.loc[flagged, "after_arrival_h"]),
        "alerted": int(alerted.sum()),
        "alert_precision": float((alerted & late).sum() / alerted.sum()) if alerted.any() else None,
        "back_on_track": int(affected["back_on_track"].sum()),
    }


def _reasons_against_causes(
    affected: pd.DataFrame, causes: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reasons given at the first flag; with hidden causes, the cause behind each."""
    reasons = (
        affected["flag_reason"]
        .dropna()
        .value_counts()
        .rename_axis("reason")
        .reset_index(name="parcels")
    )
    reasons["text"] = reasons["reason"].map(lambda c: REASONS[c].text("en") if c in REASONS else c)
    if causes is None or affected.empty:
        return reasons, pd.DataFrame()
    main = _main_cause(causes, set(affected["shipment_id"]))
    table = (
        affected.assign(cause=affected["shipment_id"].map(main))
        .groupby(["cause", "flag_reason"], dropna=False)
        .size()
        .reset_index(name="parcels")
        .sort_values("parcels", ascending=False)
    )
    return reasons, table.reset_index(drop=True)


def _main_cause(causes: pd.DataFrame, ids: set[str]) -> pd.Series:
    """Each parcel's hidden cause that added the most hours."""
    hit = causes[causes["shipment_id"].isin(ids) & (causes["delay_h"] > 0)]
    top = hit.sort_values("delay_h", ascending=False).drop_duplicates("shipment_id")
    return top.set_index("shipment_id")["cause"].astype(str)


def _agreement(affected: pd.DataFrame, causes: pd.DataFrame) -> float | None:
    """Share of flagged affected parcels whose top-2 reasons name one of their hidden causes.

    The rule of training's `reason_agreement` (`training.reasons.agreement`).
    """
    flagged = affected[affected["flag_reasons"].map(lambda r: isinstance(r, str))]
    hit = causes[causes["shipment_id"].isin(set(flagged["shipment_id"])) & (causes["delay_h"] > 0)]
    by_parcel = hit.groupby("shipment_id")["cause"].agg(lambda c: set(c.astype(str)))
    codes = [[str(c) for c, _ in json.loads(raw)[:2]] for raw in flagged["flag_reasons"]]
    reasons = pd.DataFrame(
        [row + [None] * (2 - len(row)) for row in codes], columns=["reason_1", "reason_2"]
    )
    share = agreement(reasons, pd.Series(flagged["shipment_id"].map(by_parcel).to_numpy()))
    return None if np.isnan(share) else share
