"""Alerts queued the way the service queues them, for the outbox and sender tests."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from serving.alerts import AlertPolicy, AlertStore, Scored
from serving.messages import MessageBook


def queue_late(
    store: AlertStore, ids: Iterable[str], promised: pd.Timestamp, at: pd.Timestamp
) -> list[str]:
    """Queue a LATE alert for each shipment id (risk 0.9, ETA a day past the promise)."""
    batch = [
        Scored(
            shipment_id=sid,
            promised_at=promised,
            as_of=at,
            risk=0.9,
            eta_p10=promised + pd.Timedelta(hours=10),
            eta_p50=promised + pd.Timedelta(hours=20),
            eta_p90=promised + pd.Timedelta(hours=40),
            reasons=(("WEATHER", 0.8),),
            model_version="stallguard/3",
        )
        for sid in ids
    ]
    return [a.key for a in store.decide(batch, AlertPolicy(), at, MessageBook())]
