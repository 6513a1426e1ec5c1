"""The MLflow pyfunc around `Predictor`: a signature on RAW shipments, parsing and validation.

Input: one row per shipment with the canonical shipment fields (outcome columns excluded;
timestamps as ISO 8601 strings, since MLflow's datetime type cannot carry a time zone), an
optional `as_of` (default: the time of the call) and `events`, a JSON list of that parcel's
scans so far. Output: risk, alert flag, ETA quantiles (ISO timestamps) and the top reasons.

The model is logged "from code" (training/pyfunc_model.py) with the predictor bundle as an
artifact, so nothing is pickled. `model_config={"context_dir": DIR}` at load time swaps the
bundled context for a fresher one written by `stallguard context`, and the calibration for
one written there by `stallguard recalibrate`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, Schema

from contract.schema import SCAN_EVENTS, SHIPMENTS, TIMESTAMP_DTYPE, Column
from contract.tables import Tables
from contract.validation import validate
from features.context import Context
from training.predictor import OUTPUT_COLUMNS, Predictor
from training.recalibration import RECALIBRATION_FILE, Recalibration

log = logging.getLogger(__name__)

EVENT_FIELDS = [c.name for c in SCAN_EVENTS.columns if c.name != "shipment_id"]
INPUT_COLUMNS = [c for c in SHIPMENTS.columns if not c.outcome]
_MLFLOW_TYPE = {
    "str": "string",
    "category": "string",
    "timestamp": "string",
    "date": "string",
    "float": "double",
    "int": "long",
    "bool": "boolean",
}


class InputError(ValueError):
    """Raw input the model cannot use; the message names the row and the field."""


def signature() -> ModelSignature:
    """The model's MLflow signature, derived from the data contract in contract/schema.py."""
    inputs = [ColSpec(_MLFLOW_TYPE[c.kind], c.name, required=not c.nullable) for c in INPUT_COLUMNS]
    inputs.append(ColSpec("string", "as_of", required=False))
    inputs.append(ColSpec("string", "events", required=False))
    outputs = [
        ColSpec("string", "shipment_id"),
        ColSpec("string", "as_of"),
        ColSpec("double", "risk"),
        ColSpec("boolean", "at_risk"),
        *(ColSpec("string", f"eta_p{q}") for q in (10, 50, 90)),
        *(
            spec
            for k in (1, 2, 3)
            for spec in (
                ColSpec("string", f"reason_{k}", required=False),
                ColSpec("double", f"reason_{k}_share"),
            )
        ),
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))  # type: ignore[arg-type]


def parse_input(
    frame: pd.DataFrame, now: pd.Timestamp | None = None
) -> tuple[Tables, pd.DataFrame]:
    """Raw rows -> canonical tables and one snapshot per shipment.

    Raises:
        InputError: A required field is missing or a value does not fit the contract (the
            message names the shipment and the field).
    """
    if frame.empty:
        raise InputError("no shipments in the input")
    missing = [c.name for c in INPUT_COLUMNS if not c.nullable and c.name not in frame]
    if missing:
        raise InputError(f"missing required field(s): {', '.join(missing)}")
    ships = frame.reindex(columns=[c.name for c in SHIPMENTS.columns])
    events = _events(frame)
    # Foreign data: validate (which reports bad rows) rather than conform (which would raise).
    result = validate(Tables.empty().replace(shipments=ships, scan_events=events))
    if not result.ok:
        first = result.rejections.iloc[0]
        raise InputError(
            f"{first['table']} row {first['row_key']}: field {first['column']!r} "
            f"fails {first['rule']} ({len(result.rejections)} problem(s) in all)"
        )
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    as_of = _as_of(frame, now)
    snapshots = pd.DataFrame({"shipment_id": frame["shipment_id"].astype("str"), "as_of": as_of})
    return result.tables, snapshots.reset_index(drop=True)


def _events(frame: pd.DataFrame) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    if "events" not in frame:
        return pd.DataFrame(columns=SCAN_EVENTS.column_names)
    for sid, raw in zip(frame["shipment_id"], frame["events"], strict=True):
        if raw is None or (isinstance(raw, float) and pd.isna(raw)) or raw == "":
            continue
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as err:
            raise InputError(f"shipment {sid}: field 'events' is not valid JSON ({err})") from err
        if not isinstance(items, list):
            raise InputError(f"shipment {sid}: field 'events' must be a list of scans")
        for k, item in enumerate(items):
            if not isinstance(item, dict):
                raise InputError(f"shipment {sid}: events[{k}] must be an object")
            rows.append({"shipment_id": sid, **{f: item.get(f) for f in EVENT_FIELDS}})
    return pd.DataFrame(rows, columns=SCAN_EVENTS.column_names)


def _as_of(frame: pd.DataFrame, now: pd.Timestamp) -> pd.Series:
    if "as_of" not in frame:
        return pd.Series([now] * len(frame)).astype(TIMESTAMP_DTYPE)
    try:
        values = pd.to_datetime(frame["as_of"].reset_index(drop=True), utc=True, format="ISO8601")
    except (ValueError, TypeError) as err:
        raise InputError(f"field 'as_of' is not an ISO 8601 timestamp ({err})") from err
    return values.fillna(now).astype(TIMESTAMP_DTYPE)


def to_output(predictions: pd.DataFrame) -> pd.DataFrame:
    """Predictor output with timestamps as ISO strings (the pyfunc output schema)."""
    out = predictions[list(OUTPUT_COLUMNS)].copy()
    for column in ("as_of", "eta_p10", "eta_p50", "eta_p90"):
        out[column] = out[column].map(lambda t: t.isoformat())
    return out


class StallguardModel(PythonModel):
    """MLflow pyfunc: raw shipments in, risk + ETA window + reasons out."""

    def __init__(self) -> None:
        self.predictor: Predictor | None = None

    def load_context(self, context: PythonModelContext) -> None:
        """Read the bundle; a `context_dir` in the model config replaces its context.

        A `recalibration.json` in that directory (from `stallguard recalibrate`) replaces the
        bundled calibration when it was fitted for this model; one for another model is
        ignored with a warning, so a shared context directory survives a promotion.
        """
        config = context.model_config or {}
        fresh = config.get("context_dir")
        override = Context.read(fresh) if fresh else None
        predictor = Predictor.load(Path(context.artifacts["bundle"]), override)
        if fresh:
            recalibration = Recalibration.read(fresh)
            if recalibration is not None and not predictor.use_recalibration(recalibration):
                log.warning(
                    "ignoring %s/%s: fitted for model %s, not %s",
                    fresh,
                    RECALIBRATION_FILE,
                    recalibration.model_key,
                    predictor.model_key,
                )
        self.predictor = predictor

    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Predictions for raw shipments (see the module docstring for the columns)."""
        if self.predictor is None:
            raise RuntimeError("the model is not loaded")
        tables, snapshots = parse_input(model_input)
        return to_output(self.predictor.predict(tables, snapshots))


def example_input(tables: Tables, rows: int = 2) -> pd.DataFrame:
    """Raw input rows built from real shipments, with personal data replaced by placeholders.

    Logged as the model's input example: MLflow stores it, so no real address or phone may
    be in it.
    """
    ships = tables.shipments.head(rows)
    out = pd.DataFrame({c.name: _raw(ships[c.name], c) for c in INPUT_COLUMNS})
    out["dest_address"] = "서울특별시 중구 세종대로 110 1층"  # a public address (Seoul City Hall)
    out["recipient_phone"] = "010-0000-0000"
    events = tables.scan_events[tables.scan_events["shipment_id"].isin(ships["shipment_id"])]
    scans: dict[str, list[dict[str, Any]]] = {}
    seen_at: dict[str, Any] = {}
    for sid, part in events.sort_values("event_time").groupby("shipment_id", sort=False):
        head = part.head(3)  # the parcel as it was after its first scans
        scans[str(sid)] = [
            {f: (_iso(v) if f == "event_time" else _plain(v)) for f, v in row.items()}
            for row in head[EVENT_FIELDS].to_dict("records")
        ]
        seen_at[str(sid)] = head["event_time"].iloc[-1]
    ids = out["shipment_id"].astype("str")
    out["events"] = [json.dumps(scans.get(sid, []), ensure_ascii=False) for sid in ids]
    out["as_of"] = [
        _iso(seen_at.get(sid, created))
        for sid, created in zip(ids, ships["created_at"], strict=True)
    ]
    return out


def _raw(values: pd.Series, column: Column) -> pd.Series:
    if column.kind == "timestamp":
        return values.map(_iso)
    if column.kind in ("str", "category"):
        return values.astype("object").where(values.notna(), None)
    return values


def _iso(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


def _plain(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
