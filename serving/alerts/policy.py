"""The alert policy: when a parcel's customer is told, decided in plain Python, no database.

A parcel enters the alert state at `risk >= enter` and leaves it below `exit` (hysteresis, so a
risk hovering around one threshold does not flip-flop). A promise gets at most one LATE alert,
ever; while in the alert state, an ETA_CHANGED alert follows when the P50 ETA moved more than
`eta_move_h` hours from the one last sent. Every alert has an idempotency key, so whoever
stores them (serving/alerts/store.py) never keeps or sends one twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import pandas as pd


class AlertKind(StrEnum):
    """What an alert tells the customer."""

    LATE = "LATE"
    ETA_CHANGED = "ETA_CHANGED"


@dataclass(frozen=True)
class Scored:
    """A parcel's prediction, as the alert policy sees it.

    Attributes:
        shipment_id: The parcel.
        promised_at: The promise the prediction is about (tz-aware UTC).
        as_of: When the prediction's inputs were observed (tz-aware UTC).
        risk: Calibrated probability of missing the promise.
        eta_p10: 10% quantile of the delivery time (tz-aware UTC).
        eta_p50: Median delivery time.
        eta_p90: 90% quantile.
        reasons: (reason code, share) pairs, best first (codes of `training.reasons.REASONS`).
        model_version: Label of the model that scored it.
    """

    shipment_id: str
    promised_at: pd.Timestamp
    as_of: pd.Timestamp
    risk: float
    eta_p10: pd.Timestamp
    eta_p50: pd.Timestamp
    eta_p90: pd.Timestamp
    reasons: tuple[tuple[str, float], ...]
    model_version: str

    def __post_init__(self) -> None:
        # A naive timestamp would silently shift keys and state by the server's time zone.
        for name in ("promised_at", "as_of", "eta_p10", "eta_p50", "eta_p90"):
            value = getattr(self, name)
            if not isinstance(value, dt.datetime) or value.tzinfo is None:
                raise ValueError(f"{name} must be a timezone-aware timestamp, got {value!r}")
        if not (math.isfinite(self.risk) and 0.0 <= self.risk <= 1.0):
            raise ValueError(f"risk must be within [0, 1], got {self.risk!r}")


@dataclass(frozen=True)
class AlertPolicy:
    """When a parcel's customer is alerted.

    Attributes:
        enter: Risk at or above which a parcel enters the alert state.
        exit: Risk below which it leaves it (between the two it keeps its state).
        eta_move_h: Hours the P50 ETA must move, from the last alert sent, to alert again.

    Raises:
        ValueError: Unless 0 <= exit < enter <= 1 and eta_move_h >= 0; names the field.
    """

    enter: float = 0.6
    exit: float = 0.4
    eta_move_h: float = 12.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.enter <= 1.0:
            raise ValueError(f"enter must be within [0, 1], got {self.enter!r}")
        if not 0.0 <= self.exit <= 1.0:
            raise ValueError(f"exit must be within [0, 1], got {self.exit!r}")
        if not self.exit < self.enter:
            raise ValueError(f"exit ({self.exit!r}) must be below enter ({self.enter!r})")
        if not (math.isfinite(self.eta_move_h) and self.eta_move_h >= 0):
            raise ValueError(f"eta_move_h must be a non-negative number, got {self.eta_move_h!r}")


class Renderer(Protocol):
    """What turns an alert into words for the customer (serving/messages.py)."""

    def render(self, kind: AlertKind, scored: Scored, lang: str) -> str:
        """The customer message in `lang`."""
        ...

    def compensation_for(self, scored: Scored) -> dict[str, str] | None:
        """A configured compensation hint by language, or None."""
        ...


@dataclass(frozen=True)
class Alert:
    """An alert decision: what was decided about which prediction, and the words for it.

    Attributes:
        key: Idempotency key: shipment, promise, kind (and for ETA_CHANGED the new P50 hour).
        kind: What the alert tells.
        scored: The prediction it is about.
        message: Customer message by language ("ko", "en").
        compensation: Configured compensation hint by language, or None.
    """

    key: str
    kind: AlertKind
    scored: Scored
    message: dict[str, str] = field(default_factory=dict)
    compensation: dict[str, str] | None = None

    @property
    def shipment_id(self) -> str:
        """The parcel."""
        return self.scored.shipment_id

    def payload(self) -> dict[str, Any]:
        """The JSON object sent to a channel (timestamps as ISO 8601; no address or phone)."""
        s = self.scored
        return {
            "key": self.key,
            "kind": str(self.kind),
            "shipment_id": s.shipment_id,
            "promised_at": utc(s.promised_at).isoformat(),
            "as_of": utc(s.as_of).isoformat(),
            "risk": float(s.risk),
            "eta_p10": utc(s.eta_p10).isoformat(),
            "eta_p50": utc(s.eta_p50).isoformat(),
            "eta_p90": utc(s.eta_p90).isoformat(),
            "reasons": [{"code": code, "share": share} for code, share in s.reasons],
            "model_version": s.model_version,
            "message": dict(self.message),
            "compensation": dict(self.compensation) if self.compensation is not None else None,
        }


@dataclass
class State:
    """A promise's alert state.

    Attributes:
        active: In the alert state.
        last_p50: P50 ETA of the last alert sent for the promise (None: none sent yet).
        changed: Differs from what the store holds.
    """

    active: bool = False
    last_p50: pd.Timestamp | None = None
    changed: bool = False


def utc(ts: dt.datetime) -> pd.Timestamp:
    """A timezone-aware timestamp in UTC.

    Raises:
        ValueError: `ts` is naive.
    """
    out = pd.Timestamp(ts)
    if out.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {ts!r}")
    return out.tz_convert("UTC")


def alert_key(kind: AlertKind, *parts: str) -> str:
    """An idempotency key: the kind and a digest of what identifies the alert.

    Derived, not the raw shipment id: whatever the id holds, the key is short ASCII that fits
    an HTTP header and a log line (`LATE-` + 32 hex digits).
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"{kind}-{digest}"


def late_key(shipment_id: str, promised_at: pd.Timestamp) -> str:
    """Idempotency key of the LATE alert of a promise."""
    return alert_key(AlertKind.LATE, shipment_id, utc(promised_at).isoformat())


def eta_changed_key(shipment_id: str, promised_at: pd.Timestamp, eta_p50: pd.Timestamp) -> str:
    """Idempotency key of an ETA_CHANGED alert (new P50 floored to the hour)."""
    hour = utc(eta_p50).floor("h").isoformat()
    return alert_key(AlertKind.ETA_CHANGED, shipment_id, utc(promised_at).isoformat(), hour)


def possible_keys(batch: Sequence[Scored]) -> set[str]:
    """Every key a batch could emit (to look up which were emitted before)."""
    keys = {late_key(s.shipment_id, s.promised_at) for s in batch}
    return keys | {eta_changed_key(s.shipment_id, s.promised_at, s.eta_p50) for s in batch}


def decide(
    batch: Sequence[Scored],
    states: dict[tuple[str, pd.Timestamp], State],
    emitted: set[str],
    policy: AlertPolicy,
    renderer: Renderer,
) -> list[Alert]:
    """Apply the policy to a batch of predictions, in order.

    Args:
        batch: Predictions (a shipment may appear more than once; later entries see the state
            earlier ones left).
        states: Alert state by (shipment_id, promise in UTC); missing entries start inactive.
            Updated in place (`changed` marks what to store).
        emitted: Keys already emitted; updated in place with the new ones.
        policy: Thresholds.
        renderer: Words for each alert.

    Returns:
        The new alerts, in batch order.
    """
    move = pd.Timedelta(hours=policy.eta_move_h)
    alerts: list[Alert] = []
    for s in batch:
        state = states.setdefault((s.shipment_id, utc(s.promised_at)), State())
        was_active = state.active
        if s.risk >= policy.enter:
            state.active = True
        elif s.risk < policy.exit:
            state.active = False
        state.changed |= state.active != was_active
        if not state.active:
            continue
        if state.last_p50 is None:
            kind, key = AlertKind.LATE, late_key(s.shipment_id, s.promised_at)
        elif abs(utc(s.eta_p50) - state.last_p50) > move:
            kind = AlertKind.ETA_CHANGED
            key = eta_changed_key(s.shipment_id, s.promised_at, s.eta_p50)
        else:
            continue
        if key in emitted:
            # Sent before (e.g. the ETA came back to an hour already announced): the state
            # keeps the ETA of the alert actually sent last.
            continue
        emitted.add(key)
        alerts.append(
            Alert(
                key=key,
                kind=kind,
                scored=s,
                message={lang: renderer.render(kind, s, lang) for lang in ("ko", "en")},
                compensation=renderer.compensation_for(s),
            )
        )
        state.last_p50 = utc(s.eta_p50)  # later entries of the batch compare with this one
        state.changed = True
    return alerts
