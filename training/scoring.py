"""Batch scoring for ops: every parcel in flight, ranked by risk, with ETA window and reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from contract.schema import TIMESTAMP_DTYPE, UNDELIVERED_STATUSES
from contract.tables import Tables
from features.build import build_features
from features.context import Context, build_context
from features.snapshots import Columns
from training.predictor import Predictor
from training.reasons import REASONS

SCORE_FORMATS = (".csv", ".parquet")


def in_flight(tables: Tables, now: pd.Timestamp) -> pd.DataFrame:
    """Shipments created by `now` and not finished by then (delivered, returned, canceled)."""
    ships = tables.shipments
    finished = ships["delivered_at"].notna() & (ships["delivered_at"] <= now)
    finished |= ships["final_status"].astype("str").isin(UNDELIVERED_STATUSES)
    return ships[(ships["created_at"] <= now) & ~finished.to_numpy()]


def gave_up_at(tables: Tables) -> pd.Series:
    """When each parcel that ended undelivered (returned, canceled, lost) ended.

    Its last scan; NaT for the others. Aligned with `tables.shipments`.
    """
    ships = tables.shipments
    events = tables.scan_events
    last_scan = events.groupby("shipment_id", observed=True, sort=False)["event_time"].max()
    ended = pd.Series(last_scan.reindex(ships["shipment_id"]).to_numpy(), index=ships.index)
    gave_up = ships["final_status"].astype("string").isin(UNDELIVERED_STATUSES).fillna(False)
    return ended.where(gave_up.to_numpy())


def _naive_utc(times: pd.Series) -> np.ndarray:
    return pd.to_datetime(times, utc=True).dt.tz_localize(None).to_numpy("datetime64[us]")


def pass_snapshots(
    tables: Tables,
    end: pd.Timestamp,
    days: float = 14.0,
    every_hours: float = 1.0,
    share: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Snapshots of the parcels in flight at each pass time over the `days` before `end`.

    A parcel is in flight from its creation until its delivery or, when it was returned (or
    canceled, or lost), until its last scan: what a watch pass would have scored then (the
    drift reference is fitted on these). `share` < 1 keeps that random share of each pass's
    parcels: hourly passes cover every hour of the day (hub load and dwell move with it) at
    the cost of fewer passes.
    """
    ships = tables.shipments
    ended = gave_up_at(tables)
    finished = ships["delivered_at"].where(ended.isna(), ended)
    created, done = (_naive_utc(c) for c in (ships["created_at"], finished))
    ids = ships["shipment_id"].to_numpy()
    end = end.floor("h")
    times = pd.date_range(end - pd.Timedelta(days=days), end, freq=f"{every_hours}h")
    rng = np.random.default_rng(seed)
    parts = []
    for when in times[1:]:
        stamp = np.datetime64(when.tz_convert("UTC").tz_localize(None), "us")
        flying = (created <= stamp) & ~(done <= stamp)  # NaT: not finished
        if share < 1:
            flying &= rng.random(len(ids)) < share
        parts.append(pd.DataFrame({"shipment_id": ids[flying], "as_of": when}))
    if not parts:
        return pd.DataFrame({"shipment_id": [], "as_of": pd.Series([], dtype=TIMESTAMP_DTYPE)})
    return pd.concat(parts, ignore_index=True).astype({"as_of": TIMESTAMP_DTYPE})


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
    return score_with_features(predictor, tables, now, context, lang)[0]


def score_with_features(
    predictor: Predictor,
    tables: Tables,
    now: pd.Timestamp,
    context: Context | None = None,
    lang: str = "en",
) -> tuple[pd.DataFrame, Columns]:
    """`score`, and the feature values of the scored parcels (in their input order)."""
    flying = in_flight(tables, now)
    if flying.empty:
        return pd.DataFrame(columns=["shipment_id", "risk"]), {}
    snapshots = pd.DataFrame(
        {"shipment_id": flying["shipment_id"].to_numpy(), "as_of": now}
    ).astype({"as_of": TIMESTAMP_DTYPE})
    context = context if context is not None else build_context(tables, as_of=now)
    out, columns = predictor.predict_with_features(tables, snapshots, context)
    out.insert(2, "promised_at", flying["promised_at"].to_numpy())
    out.insert(3, "overdue", (flying["promised_at"] < now).to_numpy())
    out.insert(4, "dest_region", flying["dest_region"].astype("str").to_numpy())
    out["reasons"] = _reason_texts(out, lang)
    order = np.argsort(-out["risk"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True), columns


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
    """Each row's reasons in words, joined once per combination of codes.

    A pass has 100k rows and a few hundred combinations.
    """
    slots = [
        [c if isinstance(c, str) else None for c in out[f"reason_{k}"].tolist()] for k in (1, 2, 3)
    ]
    joined: dict[tuple[str | None, ...], str] = {}
    texts = []
    for codes in zip(*slots, strict=True):
        text = joined.get(codes)
        if text is None:
            text = joined[codes] = "; ".join(REASONS[c].text(lang) for c in codes if c is not None)
        texts.append(text)
    return texts


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
