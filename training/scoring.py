"""Batch scoring for ops: every parcel in flight, ranked by risk, with ETA window and reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from contract.schema import TIMESTAMP_DTYPE
from contract.tables import Tables
from features.build import build_features
from features.context import Context, build_context
from training.predictor import Predictor
from training.reasons import REASONS

SCORE_FORMATS = (".csv", ".parquet")


def in_flight(tables: Tables, now: pd.Timestamp) -> pd.DataFrame:
    """Shipments created by `now` and not finished by then (delivered, returned, canceled)."""
    ships = tables.shipments
    finished = ships["delivered_at"].notna() & (ships["delivered_at"] <= now)
    finished |= ships["final_status"].astype("str").isin(["RETURNED", "CANCELED", "LOST"])
    return ships[(ships["created_at"] <= now) & ~finished.to_numpy()]


def score(
    predictor: Predictor,
    tables: Tables,
    now: pd.Timestamp,
    context: Context | None = None,
    lang: str = "en",
) -> pd.DataFrame:
    """One row per in-flight shipment as of `now`, sorted by risk (highest first).

    `overdue` marks parcels already past their promise (late for sure, risk near 1), so that
    ops can tell them from the ones that can still be saved.

    Args:
        predictor: Model to score with.
        tables: Canonical tables (only what was known at `now` is used).
        now: Scoring time (UTC).
        context: Cross-shipment context; default: built from `tables` as of `now`.
        lang: Language of the reason texts ("ko" or "en").
    """
    flying = in_flight(tables, now)
    if flying.empty:
        return pd.DataFrame(columns=["shipment_id", "risk"])
    snapshots = pd.DataFrame(
        {"shipment_id": flying["shipment_id"].to_numpy(), "as_of": now}
    ).astype({"as_of": TIMESTAMP_DTYPE})
    context = context if context is not None else build_context(tables, as_of=now)
    out = predictor.predict(tables, snapshots, context)
    out.insert(2, "promised_at", flying["promised_at"].to_numpy())
    out.insert(3, "overdue", (flying["promised_at"] < now).to_numpy())
    out.insert(4, "dest_region", flying["dest_region"].astype("str").to_numpy())
    out["reasons"] = _reason_texts(out, lang)
    order = np.argsort(-out["risk"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


STAGE_EVENTS = {"purchase": "CREATED", "handoff": "PICKED_UP"}


def score_stage(predictor: Predictor, tables: Tables, stage: str, lang: str = "en") -> pd.DataFrame:
    """One row per shipment as of a stage of its journey, for any data set in the contract.

    `purchase`: as of creation; `handoff`: as of the carrier's pick-up scan (shipments never
    handed over are left out). Features are built point-in-time from `tables` themselves, so
    this works on orders the model never saw.

    Raises:
        ValueError: Unknown stage.
    """
    if stage not in STAGE_EVENTS:
        raise ValueError(f"--stage must be one of {', '.join(STAGE_EVENTS)}, got {stage!r}")
    ships = tables.shipments
    if stage == "purchase":
        snapshots = pd.DataFrame(
            {"shipment_id": ships["shipment_id"], "as_of": ships["created_at"]}
        )
    else:
        events = tables.scan_events
        picked = events[events["event_type"].astype("str") == STAGE_EVENTS[stage]]
        first = picked.groupby("shipment_id", sort=False)["event_time"].min()
        snapshots = pd.DataFrame({"shipment_id": first.index, "as_of": first.to_numpy()})
    snapshots = snapshots.astype({"as_of": TIMESTAMP_DTYPE}).reset_index(drop=True)
    if snapshots.empty:
        return pd.DataFrame(columns=["shipment_id", "stage", "risk"])
    x = build_features(tables, snapshots)[predictor.feature_names]
    out = predictor.predict_features(x, snapshots["as_of"])
    out.insert(0, "shipment_id", snapshots["shipment_id"].to_numpy())
    out.insert(1, "stage", stage)
    promised = ships.set_index("shipment_id")["promised_at"]
    out.insert(3, "promised_at", out["shipment_id"].map(promised).to_numpy())
    out["reasons"] = _reason_texts(out, lang)
    order = np.argsort(-out["risk"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def _reason_texts(out: pd.DataFrame, lang: str) -> list[str]:
    return [
        "; ".join(REASONS[c].text(lang) for c in codes if isinstance(c, str))
        for codes in out[["reason_1", "reason_2", "reason_3"]].itertuples(index=False)
    ]


def write_scores(scores: pd.DataFrame, path: Path) -> Path:
    """Write CSV or Parquet, chosen by the file extension.

    Raises:
        ValueError: The extension is neither .csv nor .parquet.
    """
    suffix = path.suffix.lower()
    if suffix not in SCORE_FORMATS:
        raise ValueError(f"--out must end in .csv or .parquet, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        scores.to_csv(path, index=False)
    else:
        scores.to_parquet(path, index=False)
    return path
