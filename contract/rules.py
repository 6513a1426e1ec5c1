"""Rules across fields and tables, each written once in both of its forms.

A rule has a vectorised form (which rows of a frame break it: batch validation and the
rejection report) and a scalar form (whether one record breaks it: the request path, where a
frame costs more than the check). The two stand side by side so they cannot drift apart;
tests/unit/test_validation.py feeds every rule's violation through both paths.

Rules on single values (types, ranges, vocabularies, missing values) are not here: the
`Column` definitions carry them, and contract/validation.py turns those into pandera schemas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from contract.tables import is_missing

Record = Mapping[str, Any]


def before(value: Any, reference: Any) -> bool:
    """`value < reference`, False when either is missing (as pandas compares NaT)."""
    return not is_missing(value) and not is_missing(reference) and value < reference


def _earlier(frame: pd.DataFrame, column: str, reference: str) -> np.ndarray:
    return (frame[column] < frame[reference]).fillna(False).to_numpy(dtype=bool)


@dataclass(frozen=True)
class ShipmentRule:
    """A rule on the fields of one shipment.

    Attributes:
        column: The field the report names.
        rule: What the report says.
        rows: Vectorised form: the rows of a shipments frame that break it.
        breaks: Scalar form: whether one shipment record breaks it.
    """

    column: str
    rule: str
    rows: Callable[[pd.DataFrame], np.ndarray]
    breaks: Callable[[Record], bool]


@dataclass(frozen=True)
class EventRule:
    """A rule on a scan event against its shipment.

    Attributes:
        column: The field the report names.
        rule: What the report says.
        rows: Vectorised form: the rows of an events frame that break it, given the
            `created_at` of each event's shipment (NaT when the shipment is unknown).
        breaks: Scalar form: whether one event record breaks it, given its shipment's
            `created_at` (`UNKNOWN` when there is no such shipment).
    """

    column: str
    rule: str
    rows: Callable[[pd.DataFrame, pd.Series], np.ndarray]
    breaks: Callable[[Record, Any], bool]


UNKNOWN = object()  # the scalar forms' "no such shipment"

SHIPMENT_RULES = (
    ShipmentRule(
        "promised_at",
        "promised before creation",
        rows=lambda s: _earlier(s, "promised_at", "created_at"),
        breaks=lambda r: before(r.get("promised_at"), r.get("created_at")),
    ),
    ShipmentRule(
        "delivered_at",
        "delivered before creation",
        rows=lambda s: _earlier(s, "delivered_at", "created_at"),
        breaks=lambda r: before(r.get("delivered_at"), r.get("created_at")),
    ),
    ShipmentRule(
        "delivered_at",
        "status DELIVERED without delivered_at",
        rows=lambda s: (
            (s["final_status"] == "DELIVERED").fillna(False).to_numpy(dtype=bool)
            & s["delivered_at"].isna().to_numpy()
        ),
        breaks=lambda r: r.get("final_status") == "DELIVERED" and is_missing(r.get("delivered_at")),
    ),
)

EVENT_RULES = (
    EventRule(
        "shipment_id",
        "unknown or rejected shipment",
        rows=lambda events, created: created.isna().to_numpy(),
        breaks=lambda event, created: created is UNKNOWN,
    ),
    EventRule(
        "event_time",
        "event before shipment creation",
        rows=lambda events, created: (
            (events["event_time"] < created).fillna(False).to_numpy(dtype=bool)
        ),
        breaks=lambda event, created: (
            created is not UNKNOWN and before(event.get("event_time"), created)
        ),
    ),
)

DUPLICATE_SHIPMENT = "duplicate key"


def breaks_any(shipments: list[Record], events: list[Record]) -> bool:
    """Whether any record breaks a cross-field rule (or repeats a shipment id): scalar forms."""
    created: dict[Any, Any] = {}
    for ship in shipments:
        key = ship.get("shipment_id")
        if key in created:
            return True
        created[key] = ship.get("created_at")
        if any(rule.breaks(ship) for rule in SHIPMENT_RULES):
            return True
    for event in events:
        of = created.get(event.get("shipment_id"), UNKNOWN)
        if any(rule.breaks(event, of) for rule in EVENT_RULES):
            return True
    return False
