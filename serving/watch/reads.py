"""What support tools and ops read: a parcel, the at-risk list, the network.

Answers come from the store as the latest pass left it ("now" is that pass's `as_of`), so a
lookup costs a few indexed queries, never a model call. Texts (reasons) are rendered in the
reader's language here; the store keeps codes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from serving.database import aware
from serving.schemas import Reason
from serving.watch.api import (
    AtRiskItem,
    AtRiskOut,
    HistoryPoint,
    LocationView,
    NetworkOut,
    Scan,
    ShipmentView,
)
from serving.watch.schema import network, prediction_log, predictions, scan_events, shipments
from serving.watch.store import StateStore
from training.reasons import REASONS

MAX_PAGE = 500


def context_age(last: dict[str, Any]) -> dt.timedelta:
    """How old a pass's context is now: its lag behind the pass, plus the time since the pass.

    `last`: a pass as `StateStore.last_pass` gives it (naive UTC times).
    """
    lag = last["as_of"] - last["context_as_of"]
    return dt.datetime.now(dt.UTC) - last["finished_at"].replace(tzinfo=dt.UTC) + lag


def _reasons(raw: str | None, lang: str) -> list[Reason]:
    pairs = json.loads(raw) if raw else []
    return [
        Reason(code=code, share=share, text=REASONS[code].text(lang))
        for code, share in pairs
        if code in REASONS
    ]


def shipment_view(store: StateStore, shipment_id: str, lang: str) -> ShipmentView | None:
    """A parcel with its current prediction, scans and prediction history; None if unknown."""
    with store.reading() as conn:
        ship = conn.execute(
            sa.select(shipments).where(shipments.c.shipment_id == shipment_id)
        ).first()
        if ship is None:
            return None
        current = conn.execute(
            sa.select(predictions).where(predictions.c.shipment_id == shipment_id)
        ).first()
        scans = conn.execute(
            sa.select(
                scan_events.c.event_time,
                scan_events.c.event_type,
                scan_events.c.location_id,
                scan_events.c.region,
            )
            .where(scan_events.c.shipment_id == shipment_id)
            .order_by(scan_events.c.event_time)
        ).all()
        history = conn.execute(
            sa.select(
                prediction_log.c.as_of,
                prediction_log.c.risk,
                prediction_log.c.eta_p50,
                prediction_log.c.model_version,
            )
            .where(prediction_log.c.shipment_id == shipment_id)
            .order_by(prediction_log.c.as_of)
        ).all()
    as_of = aware(current.as_of) if current is not None else None
    timeline = [
        Scan(
            event_time=aware(s.event_time),
            event_type=s.event_type,
            location_id=s.location_id,
            region=s.region,
        )
        for s in scans
        if as_of is None or s.event_time <= current.as_of  # type: ignore[union-attr]
    ]
    promised = aware(ship.promised_at)
    assert promised is not None
    return ShipmentView(
        shipment_id=shipment_id,
        risk=None if current is None else current.risk,
        at_risk=None if current is None else current.at_risk,
        eta_p10=None if current is None else aware(current.eta_p10),
        eta_p50=None if current is None else aware(current.eta_p50),
        eta_p90=None if current is None else aware(current.eta_p90),
        reasons=[] if current is None else _reasons(current.reasons, lang),
        promised_at=promised,
        overdue=as_of is not None and promised < as_of and ship.delivered_at is None,
        as_of=as_of,
        model_version=None if current is None else current.model_version,
        last_scan=timeline[-1] if timeline else None,
        timeline=timeline,
        history=[
            HistoryPoint(
                as_of=aware(h.as_of),
                risk=h.risk,
                eta_p50=aware(h.eta_p50),
                model_version=h.model_version,
            )
            for h in history
        ],
        first_flagged_at=None if current is None else aware(current.first_flagged_at),
        delivered_at=aware(ship.delivered_at),
        dest_region=ship.dest_region,
    )


def at_risk_page(
    store: StateStore,
    lang: str,
    *,
    region: str | None = None,
    location: str | None = None,
    reason: str | None = None,
    min_risk: float = 0.0,
    overdue: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AtRiskOut:
    """Parcels in flight by risk (highest first), filtered, one page from `cursor` on.

    Raises:
        ValueError: A cursor this endpoint did not hand out.
    """
    last = store.last_pass()
    as_of = last["as_of"] if last else None
    query = sa.select(predictions).where(predictions.c.risk >= min_risk)
    if as_of is not None:
        query = query.where(predictions.c.as_of == as_of)  # in flight at the latest pass
    if region:
        query = query.where(predictions.c.dest_region == region)
    if location:
        query = query.where(predictions.c.last_location_id == location)
    if reason:
        query = query.where(predictions.c.top_reason == reason)
    if overdue is not None and as_of is not None:
        late = predictions.c.promised_at < as_of
        query = query.where(late if overdue else ~late)
    if cursor:
        risk, after = _decode(cursor)
        query = query.where(
            sa.or_(
                predictions.c.risk < risk,
                sa.and_(predictions.c.risk == risk, predictions.c.shipment_id > after),
            )
        )
    size = max(1, min(limit, MAX_PAGE))
    query = query.order_by(predictions.c.risk.desc(), predictions.c.shipment_id).limit(size + 1)
    with store.reading() as conn:
        rows = conn.execute(query).all()
    more = len(rows) > size
    rows = rows[:size]
    items = [_item(row, as_of, lang) for row in rows]
    next_cursor = _encode(rows[-1].risk, rows[-1].shipment_id) if more and rows else None
    return AtRiskOut(items=items, next_cursor=next_cursor, as_of=aware(as_of))


def network_view(store: StateStore) -> NetworkOut:
    """Per hub and terminal: parcels whose last scan is there, at risk among them, capacity."""
    last = store.last_pass()
    with store.reading() as conn:
        places = conn.execute(sa.select(network).order_by(network.c.location_id)).all()
        counts: dict[Any, tuple[int, int]] = {}
        if last is not None:
            rows = conn.execute(
                sa.select(
                    predictions.c.last_location_id,
                    sa.func.count(),
                    sa.func.sum(sa.case((predictions.c.at_risk, 1), else_=0)),
                )
                .where(predictions.c.as_of == last["as_of"])
                .group_by(predictions.c.last_location_id)
            ).all()
            counts = {loc: (int(n), int(r or 0)) for loc, n, r in rows}
    return NetworkOut(
        context_as_of=aware(last["context_as_of"]) if last else None,
        watched_at=aware(last["finished_at"]) if last else None,
        locations=[
            LocationView(
                location_id=p.location_id,
                kind=p.kind,
                region=p.region,
                in_flight=counts.get(p.location_id, (0, 0))[0],
                at_risk=counts.get(p.location_id, (0, 0))[1],
                load=counts.get(p.location_id, (0, 0))[0],
                capacity=p.daily_capacity,
            )
            for p in places
        ],
    )


def _item(row: Any, as_of: dt.datetime | None, lang: str) -> AtRiskItem:
    reasons = _reasons(row.reasons, lang)
    reference = as_of if as_of is not None else row.as_of
    last_scan = None
    if row.last_event_time is not None:
        last_scan = Scan(
            event_time=aware(row.last_event_time),
            event_type=row.last_event_type or "",
            location_id=row.last_location_id,
            region=row.last_region,
        )
    return AtRiskItem(
        shipment_id=row.shipment_id,
        risk=row.risk,
        at_risk=row.at_risk,
        hours_left=round((row.promised_at - reference).total_seconds() / 3600, 1),
        promised_at=aware(row.promised_at),
        eta_p10=aware(row.eta_p10),
        eta_p50=aware(row.eta_p50),
        eta_p90=aware(row.eta_p90),
        top_reason=reasons[0] if reasons else None,
        dest_region=row.dest_region,
        last_scan=last_scan,
    )


def _encode(risk: float, shipment_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([risk, shipment_id]).encode()).decode()


def _decode(cursor: str) -> tuple[float, str]:
    try:
        risk, shipment_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(risk), str(shipment_id)
    except (ValueError, TypeError) as err:
        raise ValueError("cursor is not one this endpoint handed out") from err
