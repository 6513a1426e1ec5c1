"""Batch scoring for ops: every parcel in flight, ranked by risk, with ETA window and reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.context import Context, build_context
from features.schema import TIMESTAMP_DTYPE
from features.tables import Tables
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
    out["reasons"] = [
        "; ".join(REASONS[c].text(lang) for c in codes if isinstance(c, str))
        for codes in out[["reason_1", "reason_2", "reason_3"]].itertuples(index=False)
    ]
    order = np.argsort(-out["risk"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


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
