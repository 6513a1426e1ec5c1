"""Label-free estimates from calibrated risks (confidence-based performance estimation).

If the risks are calibrated, a parcel with risk p is late with probability p, so before any
outcome lands the expected late rate is the mean risk, the expected Brier score is the mean
of p(1 - p), and the expected ROC curve counts each parcel as p of a late one and 1 - p of an
on-time one at every threshold (NannyML's CBPE does the same; docs/monitoring.md says why it
is implemented here). Calibration itself cannot be estimated this way, since the estimate
assumes it: the gap between the estimated and the realised late rate, once outcomes land,
is the check on that assumption.
"""

from __future__ import annotations

import numpy as np


def expected_late_rate(risk: np.ndarray) -> float:
    """Mean risk: the late rate calibrated risks expect (NaN when empty)."""
    return float(np.mean(risk)) if len(risk) else float("nan")


def expected_brier(risk: np.ndarray) -> float:
    """Mean p(1 - p): the Brier score expected if outcomes follow the risks."""
    p = np.asarray(risk, dtype=float)
    return float(np.mean(p * (1 - p))) if len(p) else float("nan")


def expected_roc_auc(risk: np.ndarray) -> float:
    """ROC-AUC expected if outcomes follow the risks (NaN when it cannot be defined).

    Thresholds at every distinct risk, highest first: expected true positives are the sum of
    p above the threshold, expected false positives the sum of 1 - p; ties move together, so
    the curve is the one `roc_auc_score` would draw on the expected confusion matrices.
    """
    p = np.asarray(risk, dtype=float)
    positives, negatives = p.sum(), (1 - p).sum()
    if len(p) == 0 or positives <= 0 or negatives <= 0:
        return float("nan")
    values, inverse = np.unique(-p, return_inverse=True)  # distinct risks, highest first
    tp = np.bincount(inverse, weights=p, minlength=len(values))
    fp = np.bincount(inverse, weights=1 - p, minlength=len(values))
    tpr = np.concatenate([[0.0], np.cumsum(tp) / positives])
    fpr = np.concatenate([[0.0], np.cumsum(fp) / negatives])
    return float(np.trapezoid(tpr, fpr))
