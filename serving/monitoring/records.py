"""What monitoring reads from the watch's stores, as frames.

The prediction log holds every pass's prediction of every parcel in flight; joined with the
parcel's promise and outcome it gives one row per (parcel, pass): the prediction as of that
moment, not the last one. Times come back tz-aware UTC.
"""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa

from serving.alerts.store import AlertStore
from serving.database import db_time
from serving.watch.schema import (
    network,
    pass_profiles,
    prediction_log,
    scan_events,
    shipments,
    watch_passes,
)
from serving.watch.store import StateStore

PassCounts = tuple[pd.Timestamp, str, dict[str, list[int]]]


def _utc(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for name in columns:
        frame[name] = pd.to_datetime(frame[name]).dt.tz_localize("UTC")
    return frame


def logged_predictions(store: StateStore, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """Every logged prediction made in [since, until), with its parcel's promise and outcome.

    Columns: shipment_id, as_of, model_version, risk, eta_p10/50/90, reasons (JSON),
    created_at, promised_at, dest_region, delivered_at, final_status.
    """
    query = (
        sa.select(
            prediction_log,
            shipments.c.created_at,
            shipments.c.promised_at,
            shipments.c.dest_region,
            shipments.c.delivered_at,
            shipments.c.final_status,
        )
        .join(shipments, shipments.c.shipment_id == prediction_log.c.shipment_id)
        .where(prediction_log.c.as_of >= db_time(since), prediction_log.c.as_of < db_time(until))
        .order_by(prediction_log.c.as_of, prediction_log.c.shipment_id)
    )
    with store.reading() as conn:
        frame = pd.read_sql(query, conn)
    times = ["as_of", "eta_p10", "eta_p50", "eta_p90", "created_at", "promised_at"]
    return _utc(frame, [*times, "delivered_at"])


def passes(store: StateStore, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """The passes in [since, until): as_of, scored, at_risk, alerts, model_version."""
    query = (
        sa.select(watch_passes)
        .where(watch_passes.c.as_of >= db_time(since), watch_passes.c.as_of < db_time(until))
        .order_by(watch_passes.c.as_of)
    )
    with store.reading() as conn:
        frame = pd.read_sql(query, conn)
    return _utc(frame, ["as_of", "context_as_of", "finished_at"])


def pass_counts(store: StateStore, since: pd.Timestamp, until: pd.Timestamp) -> list[PassCounts]:
    """Each pass's drift counts in [since, until): (as_of, model version, counts)."""
    query = (
        sa.select(pass_profiles)
        .where(pass_profiles.c.as_of >= db_time(since), pass_profiles.c.as_of < db_time(until))
        .order_by(pass_profiles.c.as_of)
    )
    with store.reading() as conn:
        rows = conn.execute(query).all()
    return [
        (pd.Timestamp(r.as_of).tz_localize("UTC"), r.model_version, json.loads(r.counts))
        for r in rows
    ]


def sent_alerts(outbox: AlertStore, shipment_ids: set[str]) -> pd.DataFrame:
    """The alerts enqueued for these parcels: key, kind, shipment_id, created_at, status."""
    rows = [r for r in outbox.rows() if r.shipment_id in shipment_ids]
    frame = pd.DataFrame(
        {
            "key": [r.key for r in rows],
            "kind": [r.kind for r in rows],
            "shipment_id": [r.shipment_id for r in rows],
            "created_at": pd.to_datetime([r.created_at for r in rows], utc=True),
            "status": [r.status for r in rows],
        }
    )
    return frame


def latest_time(store: StateStore) -> pd.Timestamp | None:
    """The latest pass's time: monitoring's "now" (outcomes are known as of it)."""
    last = store.last_pass()
    return None if last is None else pd.Timestamp(last["as_of"]).tz_localize("UTC")


def scans_between(store: StateStore, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """Scans of the parcels with a scan in [since, until), each with its parcel's next scan.

    Columns: shipment_id, event_time, event_type, location_id, region, next_time (the
    parcel's next scan, NaT if none yet), promised_at, dest_region, delivered_at,
    final_status.
    """
    touched = (
        sa.select(scan_events.c.shipment_id)
        .where(
            scan_events.c.event_time >= db_time(since), scan_events.c.event_time < db_time(until)
        )
        .distinct()
    )
    query = (
        sa.select(
            scan_events.c.shipment_id,
            scan_events.c.event_time,
            scan_events.c.event_type,
            scan_events.c.location_id,
            scan_events.c.region,
            shipments.c.promised_at,
            shipments.c.dest_region,
            shipments.c.delivered_at,
            shipments.c.final_status,
        )
        .join(shipments, shipments.c.shipment_id == scan_events.c.shipment_id)
        .where(scan_events.c.shipment_id.in_(touched))
        .order_by(scan_events.c.shipment_id, scan_events.c.event_time)
    )
    with store.reading() as conn:
        frame = pd.read_sql(query, conn)
    frame = _utc(frame, ["event_time", "promised_at", "delivered_at"])
    frame["next_time"] = frame.groupby("shipment_id", sort=False)["event_time"].shift(-1)
    return frame


def locations(store: StateStore) -> pd.DataFrame:
    """The network's places: location_id, kind, region, daily_capacity."""
    query = sa.select(
        network.c.location_id, network.c.kind, network.c.region, network.c.daily_capacity
    )
    with store.reading() as conn:
        return pd.read_sql(query, conn)
