"""Request and response models of the HTTP API, generated from the data contract.

The shipment and scan models are built from `contract.schema` (the outcome columns left out),
so the API, the MLflow signature and data validation share one definition.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, model_validator

from contract.schema import EARLIEST, LATEST, SCAN_EVENTS, SHIPMENTS, Column

Lang = Literal["ko", "en"]

_PYTHON_TYPE: dict[str, Any] = {
    "str": str,
    "category": str,  # open vocabularies: an unknown value is normal input
    "timestamp": AwareDatetime,  # the contract is UTC-aware; a naive time is ambiguous
    "date": dt.date,
    "float": float,
    "int": int,
    "bool": bool,
}


def field_of(column: Column) -> tuple[Any, Any]:
    """The pydantic field of a contract column: its type, bounds and description."""
    kind = _PYTHON_TYPE[column.kind]
    if column.allowed is not None:
        kind = Literal[column.allowed]
    extra: dict[str, Any] = {"description": column.description}
    if column.min_value is not None:
        extra["ge"] = column.min_value
    if column.max_value is not None:
        extra["le"] = column.max_value
    if column.kind == "float":
        extra["allow_inf_nan"] = False
    if column.kind == "timestamp":
        extra.update(ge=EARLIEST, lt=LATEST)
    if column.max_length is not None and column.allowed is None:
        extra.update(min_length=1, max_length=column.max_length, pattern=column.pattern)
    if column.nullable:
        return kind | None, Field(None, **extra)
    return kind, Field(..., **extra)


# A misspelt field is an error, not silently ignored; and no error message carries the value
# that failed (BentoML logs them, and a request's values may be an address or a phone).
_STRICT = ConfigDict(extra="forbid", hide_input_in_errors=True)
# Most scans one request may carry for one parcel (a long journey has about 20).
MAX_EVENTS = 500


def _as_of_after_creation(shipment: Any) -> Any:
    if shipment.as_of is not None and shipment.as_of < shipment.created_at:
        raise ValueError("as_of is before created_at: nothing is known of the parcel yet")
    return shipment


if TYPE_CHECKING:  # the generated classes are BaseModels with the contract's fields
    ScanEventIn = BaseModel
    ShipmentIn = BaseModel
else:
    ScanEventIn = create_model(
        "ScanEventIn",
        __config__=_STRICT,
        **{c.name: field_of(c) for c in SCAN_EVENTS.columns if c.name != "shipment_id"},
    )
    ShipmentIn = create_model(
        "ShipmentIn",
        __config__=_STRICT,
        **{c.name: field_of(c) for c in SHIPMENTS.columns if not c.outcome},
        as_of=(
            AwareDatetime | None,
            Field(
                None,
                ge=EARLIEST,
                lt=LATEST,
                description="Predict as of this time (default: now); not before created_at.",
            ),
        ),
        events=(
            list[ScanEventIn],
            Field(
                default_factory=list,
                max_length=MAX_EVENTS,
                description="The parcel's scan events so far.",
            ),
        ),
        __validators__={
            "as_of_after_creation": model_validator(mode="after")(_as_of_after_creation)
        },
    )


class PredictRequest(BaseModel):
    """The body of /predict and /alerts."""

    model_config = _STRICT

    shipments: list[ShipmentIn] = Field(description="The parcels to score, with their scans.")
    lang: Lang = Field("en", description="Language of reason texts and messages.")


class Reason(BaseModel):
    """Why a parcel is at risk: a reason code, its share of the risk, and a text."""

    code: str
    share: float
    text: str


class Prediction(BaseModel):
    """Risk, ETA window and reasons for one shipment."""

    shipment_id: str
    as_of: dt.datetime
    risk: float = Field(description="Calibrated probability of missing the promise.")
    at_risk: bool = Field(description="risk >= the model's alert threshold.")
    eta_p10: dt.datetime
    eta_p50: dt.datetime
    eta_p90: dt.datetime
    reasons: list[Reason]
    model_version: str


class PredictResponse(BaseModel):
    """Answers of /predict, in the order of the request."""

    predictions: list[Prediction]
    model_version: str


class AlertOut(BaseModel):
    """An alert decision, as enqueued for the notification systems."""

    key: str = Field(description="Idempotency key: (shipment, promise, kind[, new ETA]).")
    kind: str = Field(description="LATE, ETA_CHANGED or BACK_ON_TRACK.")
    type: str = Field(
        description="Its webhook envelope type: shipment.at_risk, .eta_changed, .back_on_track."
    )
    shipment_id: str
    promised_at: dt.datetime
    risk: float
    eta_p10: dt.datetime
    eta_p50: dt.datetime
    eta_p90: dt.datetime
    reasons: list[Reason]
    message: str = Field(description="Ready customer message in the requested language.")
    compensation: str | None = None
    model_version: str


class AlertsResponse(BaseModel):
    """Answers of /alerts: only the alerts the policy emits for this batch."""

    alerts: list[AlertOut]
    evaluated: int
    model_version: str


class ModelInfo(BaseModel):
    """What the service is serving."""

    model_uri: str
    name: str | None
    version: str | None
    run_id: str | None
    source: str | None
    window: dict[str, str]
    metrics: dict[str, float]
    threshold: float
    loaded_at: dt.datetime
