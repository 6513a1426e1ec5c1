"""The report plots of a run: calibration, PR curve, ETA error by stage, importance by family."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve


def calibration_curve(frame: pd.DataFrame, bins: int = 15) -> Figure:
    """Observed late rate against predicted risk, with the share of snapshots per bin."""
    which = np.clip((frame["risk"].to_numpy() * bins).astype(int), 0, bins - 1)
    grouped = frame.assign(bin=which).groupby("bin")
    predicted, observed = grouped["risk"].mean(), grouped["late"].mean()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    ax.plot(predicted, observed, marker="o", label="model")
    ax.set(xlabel="predicted risk", ylabel="observed late rate", title="Calibration")
    ax.legend(loc="upper left")
    return fig


def pr_curve(frame: pd.DataFrame) -> Figure:
    """Precision-recall curve of the risk on evaluation snapshots."""
    precision, recall, _ = precision_recall_curve(frame["late"], frame["risk"])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(recall, precision)
    ax.axhline(frame["late"].mean(), color="grey", linestyle="--", label="late rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1), ylim=(0, 1))
    ax.legend()
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
