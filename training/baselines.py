"""Baselines logged next to every model: the promise, the lane median, and two oracles.

The promise and lane-median ETAs are what a carrier shows without a model. The oracles are the
same learner given more than any deployed model could have: the foresight oracle the hidden
states as they stood at `as_of` (training/foresight.py), the hindsight oracle the simulator's
hidden causes (which cause touched the parcel, known only after the fact). Only training uses
them; they never ship.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from training.models import BoosterParams, fit_booster

HOUR = pd.Timedelta(hours=1)


def promise_eta_h(snapshots: pd.DataFrame, shipments: pd.DataFrame) -> np.ndarray:
    """Hours left if the parcel arrives exactly at its promise (0 once it is overdue)."""
    promised = snapshots["shipment_id"].map(shipments.set_index("shipment_id")["promised_at"])
    return np.maximum(((promised - snapshots["as_of"]) / HOUR).to_numpy(dtype=float), 0.0)


def lane_median_eta_h(
    snapshots: pd.DataFrame, shipments: pd.DataFrame, fit_on: pd.DataFrame, by_lane: bool = True
) -> np.ndarray:
    """Hours left if the parcel takes its lane's median creation-to-delivery time.

    Args:
        snapshots: shipment_id, as_of to predict for.
        shipments: Canonical shipments (for the snapshots' lanes and creation times).
        fit_on: Shipments the medians are learned from (delivered ones of the train fold).
        by_lane: False: one median for every lane (the "median delivery time" baseline).
    """
    done = fit_on[fit_on["delivered_at"].notna()]
    transit = (done["delivered_at"] - done["created_at"]) / HOUR
    groups = _lane(done) if by_lane else pd.Series("*", index=done.index)
    medians = transit.groupby(groups, observed=True).median()
    overall = float(transit.median()) if len(transit) else 48.0
    ships = shipments.set_index("shipment_id")
    lane = (
        (_lane(ships) if by_lane else pd.Series("", index=ships.index))
        .reindex(snapshots["shipment_id"])
        .to_numpy()
    )
    median = pd.Series(lane).map(medians).fillna(overall).to_numpy(dtype=float)
    created = snapshots["shipment_id"].map(ships["created_at"])
    age = ((snapshots["as_of"] - created) / HOUR).to_numpy(dtype=float)
    return np.maximum(median - age, 0.0)


def _lane(ships: pd.DataFrame) -> pd.Series:
    return ships["origin_region"].astype("str") + ">" + ships["dest_region"].astype("str")


def cause_columns(snapshot_ids: pd.Series, hidden_causes: pd.DataFrame) -> pd.DataFrame:
    """One 0/1 column per hidden cause: did that cause touch the parcel."""
    touched = hidden_causes[hidden_causes["delay_h"] > 0]
    columns = {}
    for cause in sorted(touched["cause"].astype("str").unique()):
        ids = set(touched.loc[touched["cause"].astype("str") == cause, "shipment_id"])
        columns[f"hidden_{cause.lower()}"] = snapshot_ids.isin(ids).to_numpy(dtype=float)
    return pd.DataFrame(columns, index=range(len(snapshot_ids)))


def oracle_roc_auc(
    params: BoosterParams,
    x: pd.DataFrame,
    y: np.ndarray,
    hidden: pd.DataFrame,
    train: np.ndarray,
    calibrate: np.ndarray,
    evaluate: np.ndarray,
) -> float:
    """ROC-AUC on the evaluation fold of the risk learner given `hidden`'s columns too."""
    xo = pd.concat([x.reset_index(drop=True), hidden.reset_index(drop=True)], axis=1)
    booster = fit_booster(
        params, {"objective": "binary"}, xo[train], y[train], xo[calibrate], y[calibrate]
    )
    return float(roc_auc_score(y[evaluate], booster.predict(xo[evaluate])))
