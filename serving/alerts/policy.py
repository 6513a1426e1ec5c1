"""The alert policy: when a parcel's customer is told, decided in plain Python, no database.

A parcel enters the alert state at `risk >= enter` and leaves it below `exit` (hysteresis, so a
risk hovering around one threshold does not flip-flop). A promise gets at most one LATE alert,
ever; while in the alert state, an ETA_CHANGED alert follows when the P50 ETA falls more than
`eta_move_h` hours outside the P10-P90 window last sent (a customer told "Sunday afternoon to
Monday morning" is not told again while the expectation stays near it).
When a parcel whose customer was alerted leaves the alert state, a BACK_ON_TRACK alert says
so; if it re-enters after that, the customer hears an ETA_CHANGED straight away (they were
last told all is well). Every alert has an idempotency key, so whoever stores them
(serving/alerts/store.py) never keeps or sends one twice.

Each alert travels as a typed, versioned envelope (`Alert.payload`): `type` is
`shipment.at_risk`, `shipment.eta_changed` or `shipment.back_on_track`, `version` the envelope's
schema version, and `data` the prediction, the messages and the compensation hint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

import pandas as pd


class AlertKind(StrEnum):
    """What an alert tells the customer."""

    LATE = "LATE"
    ETA_CHANGED = "ETA_CHANGED"
    BACK_ON_TRACK = "BACK_ON_TRACK"


# The envelope `type` of each kind, and the envelope's schema version: bump it (and document
# the change in docs/serving.md) whenever a field of `data` changes meaning or disappears.
EVENT_TYPES = {
    AlertKind.LATE: "shipment.at_risk",
    AlertKind.ETA_CHANGED: "shipment.eta_changed",
    AlertKind.BACK_ON_TRACK: "shipment.back_on_track",
}
ENVELOPE_VERSION = 1


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
        eta_move_h: Hours the P50 ETA must fall outside the P10-P90 window last sent (or,
            for alerts sent before windows were kept, move from the P50 last sent) to alert
            again.

    Raises:
        ValueError: Unless 0 <= exit < enter <= 1 and eta_move_h >= 0; names the field.
    """

    enter: float = 0.40
    exit: float = 0.15
    eta_move_h: float = 36.0

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

    @property
    def event_type(self) -> str:
        """The envelope type: `shipment.at_risk`, `shipment.eta_changed` or `.back_on_track`."""
        return EVENT_TYPES[self.kind]

    def payload(self) -> dict[str, Any]:
        """The envelope sent to a channel (timestamps as ISO 8601; no address or phone).

        `{type, version, timestamp, data}` as the Standard Webhooks payload structure has it;
        `timestamp` is when the prediction's inputs were observed.
        """
        return {
            "type": self.event_type,
            "version": ENVELOPE_VERSION,
            "timestamp": utc(self.scored.as_of).isoformat(),
            "data": self.data(),
        }

    def data(self) -> dict[str, Any]:
        """The envelope's `data`: the prediction, the messages and the compensation hint."""
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
        last_window: (P10, P90) of that alert (None: none sent, or sent before it was kept).
        last_kind: Kind of the last alert sent (None: none sent yet).
        changed: Differs from what the store holds.
    """

    active: bool = False
    last_p50: pd.Timestamp | None = None
    last_window: tuple[pd.Timestamp, pd.Timestamp] | None = None
    last_kind: AlertKind | None = None
    changed: bool = False


def utc(ts: dt.datetime) -> pd.Timestamp:
    """A timezone-aware timestamp in UTC.

    Raises:
        ValueError: `ts` is naive.
    """
    if isinstance(ts, pd.Timestamp) and ts.tzinfo is dt.UTC:
        return ts  # the common case, and a pass calls this for every parcel it scores
    out = pd.Timestamp(ts)
    if out.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {ts!r}")
    return out.tz_convert("UTC")


def _hour(ts: dt.datetime) -> str:
    """`ts` in UTC floored to the hour, as ISO text (`floor("h")` costs 10x more)."""
    hours = utc(ts).value // _NS_PER_HOUR
    return dt.datetime.fromtimestamp(hours * 3600, dt.UTC).isoformat()


_NS_PER_HOUR = 3_600_000_000_000


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
    return alert_key(
        AlertKind.ETA_CHANGED, shipment_id, utc(promised_at).isoformat(), _hour(eta_p50)
    )


def back_on_track_key(shipment_id: str, promised_at: pd.Timestamp, alert_p50: pd.Timestamp) -> str:
    """Idempotency key of the BACK_ON_TRACK alert that answers the alert whose P50 was `alert_p50`.

    One per alert episode: the P50 of the alert it follows (floored to the hour) tells episodes
    of one promise apart.
    """
    return alert_key(
        AlertKind.BACK_ON_TRACK, shipment_id, utc(promised_at).isoformat(), _hour(alert_p50)
    )


def can_alert(
    batch: Sequence[Scored], states: dict[tuple[str, pd.Timestamp], State], policy: AlertPolicy
) -> list[Scored]:
    """The entries of a batch that can emit or change a state, in order.

    A parcel with no stored state and a risk under `enter` stays out of the alert state and
    is told nothing, so `decide` need not see it: a pass scores every parcel in flight, and
    most are such parcels. Every entry of a shipment that is kept stays (later entries see
    the state earlier ones left).
    """
    keep = {s.shipment_id for s in batch if s.risk >= policy.enter}
    keep.update(shipment_id for shipment_id, _ in states)
    return [s for s in batch if s.shipment_id in keep]


def possible_keys(
    batch: Sequence[Scored],
    states: dict[tuple[str, pd.Timestamp], State],
    policy: AlertPolicy,
) -> set[str]:
    """The keys `decide` will look up for this batch (to fetch which were emitted before).

    A shipment that appears once checks at most one key: the one its stored state (`states`)
    and this prediction lead to, found by the same step `decide` takes, on a copy of the
    state. One that appears more than once may check any of its keys, as its state moves
    within the batch.
    """
    seen = Counter(s.shipment_id for s in batch)
    keys: set[str] = set()
    for s in batch:
        promise = (s.shipment_id, utc(s.promised_at))
        stored = states.get(promise)
        if seen[s.shipment_id] == 1:
            chosen = _step(s, replace(stored) if stored is not None else State(), policy)
            if chosen is not None:
                keys.add(chosen[1])
            continue
        keys.add(late_key(s.shipment_id, s.promised_at))
        keys.add(eta_changed_key(s.shipment_id, s.promised_at, s.eta_p50))
        if stored is not None and stored.last_p50 is not None:
            keys.add(back_on_track_key(s.shipment_id, promise[1], stored.last_p50))
    return keys


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
    alerts: list[Alert] = []
    for s in batch:
        state = states.setdefault((s.shipment_id, utc(s.promised_at)), State())
        chosen = _step(s, state, policy)
        if chosen is None:
            continue
        kind, key = chosen
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
        state.last_window = (utc(s.eta_p10), utc(s.eta_p90))
        state.last_kind = kind
        state.changed = True
    return alerts


def _step(s: Scored, state: State, policy: AlertPolicy) -> tuple[AlertKind, str] | None:
    """Move `state` with the prediction `s` (hysteresis); the alert it calls for, if any."""
    was_active = state.active
    if s.risk >= policy.enter:
        state.active = True
    elif s.risk < policy.exit:
        state.active = False
    state.changed |= state.active != was_active
    return _kind_and_key(s, state, was_active, policy)


def _kind_and_key(
    s: Scored, state: State, was_active: bool, policy: AlertPolicy
) -> tuple[AlertKind, str] | None:
    """Which alert, if any, the prediction `s` triggers given the state it moved."""
    if not state.active:
        # Leaving the alert state after the customer was told something was wrong.
        if was_active and state.last_p50 is not None and state.last_kind != AlertKind.BACK_ON_TRACK:
            return AlertKind.BACK_ON_TRACK, back_on_track_key(
                s.shipment_id, s.promised_at, state.last_p50
            )
        return None
    if state.last_p50 is None:
        return AlertKind.LATE, late_key(s.shipment_id, s.promised_at)
    p50, move = utc(s.eta_p50), pd.Timedelta(hours=policy.eta_move_h)
    window = state.last_window
    if window is None:  # sent before windows were kept: the P50 rule
        changed = abs(p50 - state.last_p50) > move
    else:
        changed = p50 > window[1] + move or p50 < window[0] - move
    if changed or state.last_kind == AlertKind.BACK_ON_TRACK:
        return AlertKind.ETA_CHANGED, eta_changed_key(s.shipment_id, s.promised_at, s.eta_p50)
    return None
