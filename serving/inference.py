"""Turn API requests into the predictor's tables, and its answers into API responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel

from contract.tables import Tables, utc_timestamps
from contract.validation import validate_typed
from serving.schemas import Prediction, Reason
from training.reasons import REASONS

_REASON_SLOTS = (1, 2, 3)


class InputError(ValueError):
    """A request that does not fit the data contract; the message names the row and field."""


def to_tables(shipments: Sequence[BaseModel], now: pd.Timestamp) -> tuple[Tables, pd.DataFrame]:
    """Canonical tables and one snapshot per shipment (as of its `as_of`, default `now`).

    Raises:
        InputError: Duplicate ids, or a value the contract rejects (named by row and field).
    """
    # A model's fields live in its __dict__: copying that is 20x cheaper than model_dump's
    # recursive serialization, the largest cost of a 1,000-parcel batch after the trees.
    rows = [dict(vars(s)) for s in shipments]
    ids = [r["shipment_id"] for r in rows]
    seen: set[str] = set()
    for shipment_id in ids:
        if shipment_id in seen:
            raise InputError(f"shipment_id {shipment_id!r} appears more than once in the batch")
        seen.add(shipment_id)
    events = [
        {"shipment_id": r["shipment_id"], **vars(event)} for r in rows for event in r.pop("events")
    ]
    as_of = [r.pop("as_of") or now for r in rows]
    result = validate_typed(rows, events)  # the request models checked each field
    if not result.ok:
        first = result.rejections.iloc[0]
        raise InputError(
            f"{first['table']} row {first['row_key']}: field {first['column']!r} fails "
            f"{first['rule']} ({len(result.rejections)} problem(s) in all)"
        )
    snapshots = pd.DataFrame(
        {"shipment_id": pd.array(ids, dtype="str"), "as_of": utc_timestamps(as_of)}
    )
    return result.tables, snapshots


def reasons_of(row: dict[str, Any], lang: str) -> list[Reason]:
    """The row's top reasons with their text in `lang`."""
    out = []
    for k in _REASON_SLOTS:
        code = row.get(f"reason_{k}")
        if isinstance(code, str) and code in REASONS:
            share = float(row[f"reason_{k}_share"])
            out.append(Reason(code=code, share=round(share, 4), text=REASONS[code].text(lang)))
    return out


def to_predictions(frame: pd.DataFrame, lang: str, model_version: str) -> list[Prediction]:
    """API predictions from the predictor's frame.

    Built with `model_construct` from column lists: the values come typed from the predictor,
    and re-validating them plus `to_dict("records")` cost as much as the features of a batch.
    """
    columns = {name: frame[name].tolist() for name in frame.columns}
    rows = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    return [
        Prediction.model_construct(
            shipment_id=row["shipment_id"],
            as_of=row["as_of"],
            risk=round(float(row["risk"]), 6),
            at_risk=bool(row["at_risk"]),
            eta_p10=row["eta_p10"],
            eta_p50=row["eta_p50"],
            eta_p90=row["eta_p90"],
            reasons=reasons_of(row, lang),
            model_version=model_version,
        )
        for row in rows
    ]
