"""Metrics of the risk and ETA models, overall and by slice, and the alert threshold choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

EARLY_WARNING_H = 12.0


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Mean |predicted - observed| over equal-width probability bins, weighted by bin size."""
    if len(y) == 0:
        return float("nan")
    which = np.clip((p * bins).astype(int), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, p, bins) - np.bincount(which, y, bins))
    return float(gap.sum() / count.sum())


def alert_range_ece(y: np.ndarray, p: np.ndarray, threshold: float, bins: int = 10) -> float:
    """ECE over the snapshots at or above the alert threshold, in equal bins of [threshold, 1].

    The alerts are made there, and the whole-range ECE, weighted by mass, hides it: most
    snapshots sit at low risk.
    """
    above = p >= threshold
    if not above.any() or threshold >= 1:
        return float("nan")
    scaled = (p[above] - threshold) / (1 - threshold)
    which = np.clip((scaled * bins).astype(int), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, p[above], bins) - np.bincount(which, y[above], bins))
    return float(gap.sum() / count.sum())


def risk_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier score and ECE (NaN where one class is missing)."""
    y = np.asarray(y, dtype=float)
    both = len(np.unique(y)) == 2
    return {
        "risk_roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "risk_pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "risk_brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "risk_ece": expected_calibration_error(y, p),
    }


def eta_metrics(remaining_h: np.ndarray, quantiles: np.ndarray) -> dict[str, float]:
    """MAE of P50 in hours and the share of deliveries inside P10-P90."""
    if len(remaining_h) == 0:
        return {"eta_p50_mae_h": float("nan"), "eta_p10_p90_coverage": float("nan")}
    inside = (remaining_h >= quantiles[:, 0]) & (remaining_h <= quantiles[:, 2])
    return {
        "eta_p50_mae_h": float(np.mean(np.abs(quantiles[:, 1] - remaining_h))),
        "eta_p10_p90_coverage": float(np.mean(inside)),
    }


THRESHOLD_GRID = np.round(np.arange(0.10, 0.9001, 0.005), 3)


def _parcel_warnings(
    shipment_id: np.ndarray,
    late: np.ndarray,
    hours_to_promise: np.ndarray,
    risk: np.ndarray,
    lead_h: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per parcel: late or not, and its highest risk at least `lead_h` before the promise.

    A parcel with no snapshot that early gets -inf, so no threshold flags it.
    """
    frame = pd.DataFrame(
        {
            "sid": shipment_id,
            "late": np.asarray(late).astype(bool),
            "early_risk": np.where(np.asarray(hours_to_promise) >= lead_h, risk, -np.inf),
        }
    )
    per = frame.groupby("sid", sort=False).agg(late=("late", "max"), top=("early_risk", "max"))
    return per["late"].to_numpy(dtype=bool), per["top"].to_numpy(dtype=float)


def _warning_curve(
    late: np.ndarray, top: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Parcels flagged, and late parcels flagged, at each threshold."""
    flagged = len(top) - np.searchsorted(np.sort(top), thresholds, side="left")
    of_late = np.sort(top[late])
    caught = len(of_late) - np.searchsorted(of_late, thresholds, side="left")
    return flagged, caught


def early_warning(
    shipment_id: np.ndarray,
    late: np.ndarray,
    hours_to_promise: np.ndarray,
    risk: np.ndarray,
    threshold: float,
    lead_h: float = EARLY_WARNING_H,
) -> dict[str, float]:
    """Parcel-level warning quality: flagged at least `lead_h` before the promise.

    A parcel is flagged when any of its snapshots taken `lead_h` or more before the promise
    has risk >= threshold. Recall: late parcels flagged / late parcels. Precision: late
    parcels flagged / parcels flagged.
    """
    parcel_late, top = _parcel_warnings(shipment_id, late, hours_to_promise, risk, lead_h)
    flagged, caught = (int(v[0]) for v in _warning_curve(parcel_late, top, np.array([threshold])))
    late_n = int(parcel_late.sum())
    return {
        "early_warning_recall_12h": caught / late_n if late_n else float("nan"),
        "early_warning_precision": caught / flagged if flagged else float("nan"),
        "early_warning_flagged": float(flagged),
    }


def choose_threshold(
    shipment_id: np.ndarray,
    late: np.ndarray,
    hours_to_promise: np.ndarray,
    risk: np.ndarray,
    min_precision: float = 0.5,
) -> float:
    """The alert threshold: best early-warning recall with precision >= `min_precision`.

    Searched on `THRESHOLD_GRID` (0.10-0.90 in steps of 0.005) on the calibration fold, never
    on the evaluation fold. Falls back to the threshold of best F1 when no threshold reaches
    the precision.
    """
    parcel_late, top = _parcel_warnings(shipment_id, late, hours_to_promise, risk, EARLY_WARNING_H)
    flagged, caught = _warning_curve(parcel_late, top, THRESHOLD_GRID)
    late_n = int(parcel_late.sum())
    if not late_n or not flagged.any():
        return 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = caught / late_n
        precision = np.where(flagged > 0, caught / flagged, np.nan)
        f1 = np.nan_to_num(2 * recall * precision / (recall + precision))
    keeps = np.flatnonzero(precision >= min_precision)
    if len(keeps):
        # Recall only falls as the threshold rises: the lowest threshold kept has the best.
        return float(THRESHOLD_GRID[keeps[0]])
    return float(THRESHOLD_GRID[np.argmax(f1)])


def slice_table(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Metrics per slice.

    Args:
        frame: One row per evaluation snapshot with columns late, risk, remaining_h,
            eta_p10_h, eta_p50_h, eta_p90_h and the slicing columns.
        by: Slicing columns; each gives its own block of rows.

    Returns:
        Columns slice, value, snapshots, late_rate and the risk and ETA metrics.
    """
    rows = []
    for column in by:
        for value, part in frame.groupby(column, observed=True, sort=True):
            eta = part[part["remaining_h"].notna()]
            quantiles = eta[["eta_p10_h", "eta_p50_h", "eta_p90_h"]].to_numpy()
            rows.append(
                {
                    "slice": column,
                    "value": str(value),
                    "snapshots": len(part),
                    "late_rate": float(part["late"].mean()),
                    **risk_metrics(part["late"].to_numpy(), part["risk"].to_numpy()),
                    **eta_metrics(eta["remaining_h"].to_numpy(), quantiles),
                }
            )
    return pd.DataFrame(rows)
