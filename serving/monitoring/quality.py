"""Live quality: logged predictions joined point in time with the outcomes that landed since.

Each logged prediction is scored against its parcel's outcome as known at monitoring's "now":
delivered (on time or late), finished without delivery (returned: late), or still in flight
past its promise (late for sure). A parcel in flight before its promise has no outcome yet:
its predictions count in the label-free estimate only. A day's figures are final when all
its predictions are settled (`settled` = 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.schema import UNDELIVERED_STATUSES
from serving.alerts.policy import AlertKind
from serving.monitoring.estimate import expected_brier, expected_late_rate, expected_roc_auc
from training.metrics import eta_metrics, risk_metrics

HOUR = pd.Timedelta(hours=1)
EARLY_WARNING_H = 12.0  # "flagged in time": at least this long before the promise
# The alerts that tell a customer their parcel is late (a re-entry after back-on-track is sent
# as ETA_CHANGED).
LATE_ALERTS = (AlertKind.LATE.value, AlertKind.ETA_CHANGED.value)


def outcomes(frame: pd.DataFrame, now: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """(delivered by `now`, late as known at `now`: 1, 0, or NaN when not known yet).

    `frame` has delivered_at, final_status and promised_at, one row per prediction or parcel.
    """
    delivered = (frame["delivered_at"].notna() & (frame["delivered_at"] <= now)).to_numpy(bool)
    gave_up = frame["final_status"].astype("string").isin(UNDELIVERED_STATUSES).fillna(False)
    known = delivered | gave_up.to_numpy(bool) | (frame["promised_at"] <= now).to_numpy(bool)
    late = np.where(delivered, frame["delivered_at"] > frame["promised_at"], True)
    return delivered, np.where(known, late, np.nan).astype(float)


def with_outcomes(log: pd.DataFrame, now: pd.Timestamp, timezone: str) -> pd.DataFrame:
    """The log with `known`, `late` (NaN when unknown), `delivered`, `day` and `promise_day`.

    `day` is the local day (the network's zone) the prediction was made; `promise_day` the
    local day of the promise.
    """
    frame = log.copy()
    frame["delivered"], frame["late"] = outcomes(frame, now)
    frame["known"] = frame["late"].notna().to_numpy()
    frame["day"] = frame["as_of"].dt.tz_convert(timezone).dt.date
    frame["promise_day"] = frame["promised_at"].dt.tz_convert(timezone).dt.date
    return frame


def _quality(rows: pd.DataFrame) -> dict[str, float]:
    """Realised and estimated figures of one group of logged predictions."""
    known = rows[rows["known"]]
    y = known["late"].to_numpy(dtype=float)
    p = known["risk"].to_numpy(dtype=float)
    realised = risk_metrics(y, p)
    done = rows[rows["delivered"]]
    hours = np.column_stack(
        [((done[c] - done["as_of"]) / HOUR).to_numpy(dtype=float) for c in _ETA]
    )
    eta = eta_metrics(((done["delivered_at"] - done["as_of"]) / HOUR).to_numpy(float), hours)
    risk = rows["risk"].to_numpy(dtype=float)
    return {
        "predictions": float(len(rows)),
        "parcels": float(rows["shipment_id"].nunique()),
        "late_parcels": float(known.loc[known["late"] == 1, "shipment_id"].nunique()),
        "settled": float(len(known) / len(rows)) if len(rows) else float("nan"),
        "late_rate": float(y.mean()) if len(y) else float("nan"),
        "roc_auc": realised["risk_roc_auc"],
        "ece": realised["risk_ece"],
        "brier": realised["risk_brier"],
        "eta_p50_mae_h": eta["eta_p50_mae_h"],
        "p10_p90_coverage": eta["eta_p10_p90_coverage"],
        "estimated_late_rate": expected_late_rate(risk),
        "estimated_roc_auc": expected_roc_auc(risk),
        "estimated_brier": expected_brier(risk),
    }


_ETA = ("eta_p10", "eta_p50", "eta_p90")


def live_metrics(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Realised and estimated figures per group of `by` (e.g. ["day"], ["day", "dest_region"])."""
    rows = [
        {**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)), **_quality(g)}
        for key, g in frame.groupby(by, sort=True, observed=True)
    ]
    return pd.DataFrame(rows, columns=[*by, *_quality(frame.iloc[:0]).keys()])


def parcel_outcomes(frame: pd.DataFrame, alerts: pd.DataFrame) -> pd.DataFrame:
    """One row per watched parcel: promise, region, outcome, first late alert and its lead.

    Columns: shipment_id, promised_at, promise_day, dest_region, known, late, first_alert_at,
    alerted (a late alert before the promise), lead_h (promise minus first alert, hours).
    """
    parcels = frame.groupby("shipment_id", sort=True).agg(
        promised_at=("promised_at", "first"),
        promise_day=("promise_day", "first"),
        dest_region=("dest_region", "first"),
        known=("known", "last"),
        late=("late", "last"),
        max_risk=("risk", "max"),
    )
    late_alerts = alerts[alerts["kind"].isin(LATE_ALERTS)]
    first = late_alerts.groupby("shipment_id")["created_at"].min()
    parcels["first_alert_at"] = first.reindex(parcels.index)
    parcels["alerted"] = (parcels["first_alert_at"] <= parcels["promised_at"]).fillna(False)
    parcels["lead_h"] = (parcels["promised_at"] - parcels["first_alert_at"]) / HOUR
    return parcels.reset_index()


def alert_quality(parcels: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Alert precision, recall and lead time per group of settled parcels.

    precision: late among the parcels alerted before their promise; recall: late parcels
    alerted before the promise; recall_12h: ... at least 12 hours before; lead_h_median:
    promise minus first alert over the late parcels alerted.
    """
    settled = parcels[parcels["known"]]
    out = []
    for key, g in settled.groupby(by, sort=True, observed=True):
        late = g["late"].to_numpy(dtype=float) == 1
        alerted = g["alerted"].to_numpy(dtype=bool)
        lead = g["lead_h"].to_numpy(dtype=float)
        hits = late & alerted
        out.append(
            {
                **dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                "parcels": len(g),
                "late": int(late.sum()),
                "alerted": int(alerted.sum()),
                "precision": float(hits.sum() / alerted.sum()) if alerted.any() else np.nan,
                "recall": float(hits.sum() / late.sum()) if late.any() else np.nan,
                "recall_12h": float((hits & (lead >= EARLY_WARNING_H)).sum() / late.sum())
                if late.any()
                else np.nan,
                "lead_h_median": float(np.median(lead[hits])) if hits.any() else np.nan,
            }
        )
    columns = [*by, "parcels", "late", "alerted", "precision", "recall", "recall_12h"]
    return pd.DataFrame(out, columns=[*columns, "lead_h_median"])
