"""The report plots of a run: calibration, curves, confusion matrix, ETA error, importance.

scikit-learn's displays draw the PR and ROC curves and the confusion matrix.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    precision_recall_curve,
    roc_curve,
)


def calibration_curve(frame: pd.DataFrame, bins: int = 15) -> Figure:
    """Observed late rate against predicted risk, with the snapshots in each bin below.

    A mass-weighted calibration error hides the sparse high-risk bins where alerts are made:
    the counts show how much evidence each point has.
    """
    which = np.clip((frame["risk"].to_numpy() * bins).astype(int), 0, bins - 1)
    grouped = frame.assign(bin=which).groupby("bin")
    predicted, observed = grouped["risk"].mean(), grouped["late"].mean()
    counts = grouped.size()
    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    ax.plot(predicted, observed, marker="o", label="model")
    for x, y, n in zip(predicted, observed, counts, strict=True):
        ax.annotate(f"{n:,}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(ylabel="observed late rate", title="Calibration (snapshots per bin)")
    ax.legend(loc="upper left")
    hist.bar((counts.index + 0.5) / bins, counts.to_numpy(), width=0.9 / bins)
    hist.set(xlabel="predicted risk", ylabel="snapshots", yscale="log", xlim=(0, 1))
    fig.tight_layout()
    return fig


def pr_curve(frame: pd.DataFrame, threshold: float | None = None) -> Figure:
    """Precision-recall curve of the risk on evaluation snapshots, the alert threshold marked."""
    fig, ax = plt.subplots(figsize=(5, 5))
    PrecisionRecallDisplay.from_predictions(
        frame["late"], frame["risk"], ax=ax, name="risk", plot_chance_level=True
    )
    if threshold is not None:
        precision, recall, cuts = precision_recall_curve(frame["late"], frame["risk"])
        k = min(int(np.searchsorted(cuts, threshold)), len(cuts) - 1)
        ax.plot(recall[k], precision[k], "o", color="red", label=f"alert threshold {threshold:.3f}")
    ax.set(title="Precision-recall", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper right")
    return fig


def roc_curve_plot(frame: pd.DataFrame, threshold: float | None = None) -> Figure:
    """ROC curve of the risk on evaluation snapshots, the alert threshold marked."""
    fig, ax = plt.subplots(figsize=(5, 5))
    RocCurveDisplay.from_predictions(
        frame["late"], frame["risk"], ax=ax, name="risk", plot_chance_level=True
    )
    if threshold is not None:
        fpr, tpr, cuts = roc_curve(frame["late"], frame["risk"])
        k = int(np.argmin(np.abs(cuts - threshold)))
        ax.plot(fpr[k], tpr[k], "o", color="red", label=f"alert threshold {threshold:.3f}")
    ax.set(title="ROC")
    ax.legend(loc="lower right")
    return fig


def confusion_at_threshold(frame: pd.DataFrame, threshold: float) -> Figure:
    """Evaluation snapshots flagged (risk >= threshold) against late, as counts."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ConfusionMatrixDisplay.from_predictions(
        frame["late"].astype(bool),
        frame["risk"].to_numpy() >= threshold,
        display_labels=["on time", "late"],
        values_format=",d",
        colorbar=False,
        ax=ax,
    )
    ax.set(
        xlabel=f"flagged at risk (>= {threshold:.3f})",
        ylabel="outcome",
        title="Snapshots at the alert threshold",
    )
    ax.set_xticklabels(["not flagged", "flagged"])
    fig.tight_layout()
    return fig


def eta_error_by_stage(frame: pd.DataFrame) -> Figure:
    """Mean absolute error of the P50 ETA and P10-P90 coverage per snapshot stage."""
    done = frame[frame["remaining_h"].notna()]
    error = (done["eta_p50_h"] - done["remaining_h"]).abs()
    inside = (done["remaining_h"] >= done["eta_p10_h"]) & (done["remaining_h"] <= done["eta_p90_h"])
    table = pd.DataFrame({"mae": error, "inside": inside, "stage": done["stage"]})
    by_stage = table.groupby("stage").mean().sort_values("mae")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.barh(by_stage.index, by_stage["mae"])
    for y, (mae, cover) in enumerate(by_stage[["mae", "inside"]].to_numpy()):
        ax.text(mae, y, f" {cover:.0%} covered", va="center", fontsize=8)
    ax.set(xlabel="P50 absolute error (hours)", title="ETA error by snapshot stage")
    fig.tight_layout()
    return fig


def importance_by_family(shares: pd.Series) -> Figure:
    """Share of the risk model's split gain per feature family."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ordered = shares.sort_values()
    ax.barh(ordered.index, ordered.to_numpy())
    ax.set(xlabel="share of total gain", title="Risk model: importance by feature family")
    fig.tight_layout()
    return fig
