"""Request and response models of the HTTP API, generated from the data contract.

The shipment and scan models are built from `contract.schema` (the outcome columns left out),
so the API, the MLflow signature and data validation share one definition.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from contract.schema import SCAN_EVENTS, SHIPMENTS, Column

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


def _field(column: Column) -> tuple[Any, Any]:
    kind = _PYTHON_TYPE[column.kind]
    if column.allowed is not None:
        kind = Literal[column.allowed]
    extra: dict[str, Any] = {"description": column.description}
    if column.min_value is not None:
        extra["ge"] = column.min_value
    if column.max_value is not None:
        extra["le"] = column.max_value
    if column.nullable:
        return kind | None, Field(None, **extra)
    return kind, Field(..., **extra)


_STRICT = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

if TYPE_CHECKING:  # the generated classes are BaseModels with the contract's fields
    ScanEventIn = BaseModel
    ShipmentIn = BaseModel
else:
    ScanEventIn = create_model(
        "ScanEventIn",
        __config__=_STRICT,
        **{c.name: _field(c) for c in SCAN_EVENTS.columns if c.name != "shipment_id"},
    )
    ShipmentIn = create_model(
        "ShipmentIn",
        __config__=_STRICT,
        **{c.name: _field(c) for c in SHIPMENTS.columns if not c.outcome},
        as_of=(
            AwareDatetime | None,
            Field(None, description="Predict as of this time (default: now)."),
        ),
        events=(
            list[ScanEventIn],
            Field(default_factory=list, description="The parcel's scan events so far."),
        ),
    )


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
    kind: str
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
