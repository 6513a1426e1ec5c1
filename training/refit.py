"""Score recent snapshots with a model and refit its calibration on them (see recalibration.py)."""

from __future__ import annotations

import pandas as pd

from contract.tables import Tables
from features.build import build_features
from features.context import Context
from training.dataset import sample_snapshots
from training.predictor import STAGE_FEATURE, Predictor
from training.recalibration import DEFAULT_DAYS, Recalibration, fit_recalibration


def history_frame(
    predictor: Predictor, x: pd.DataFrame, snapshots: pd.DataFrame, shipments: pd.DataFrame
) -> pd.DataFrame:
    """Snapshots with the model's raw risk and raw ETA band, and their parcels' outcomes.

    Canceled parcels are left out: they never had a delivery to be late or early for.

    Args:
        predictor: The model.
        x: Features of `snapshots` (same order).
        snapshots: shipment_id, as_of.
        shipments: Canonical shipments (promised_at, delivered_at, final_status).
    """
    ships = shipments.set_index("shipment_id")
    ids = snapshots["shipment_id"]
    low, _, high = predictor.eta.bands(x)
    frame = pd.DataFrame(
        {
            "as_of": snapshots["as_of"].to_numpy(),
            "promised_at": ids.map(ships["promised_at"]).to_numpy(),
            "delivered_at": ids.map(ships["delivered_at"]).to_numpy(),
            "raw": predictor.risk.raw(x),
            "low": low,
            "high": high,
            "group": x[STAGE_FEATURE].astype("str").to_numpy(),
        }
    )
    canceled = (ids.map(ships["final_status"].astype("str")) == "CANCELED").to_numpy()
    return frame[~canceled].reset_index(drop=True)


def refit(
    predictor: Predictor,
    tables: Tables,
    now: pd.Timestamp,
    days: float = DEFAULT_DAYS,
    context: Context | None = None,
) -> Recalibration | None:
    """Fit `predictor`'s recalibration at `now` from the parcels in `tables`.

    Only outcomes known at `now` are read (fit_recalibration), so this is safe to run on a
    warehouse table that holds later events too.

    Returns:
        The recalibration, or None when the last `days` hold too few settled parcels.
    """
    snaps = sample_snapshots(tables, now)
    snaps = snaps[snaps["as_of"] >= now - pd.Timedelta(days=days)].reset_index(drop=True)
    if snaps.empty:
        return None
    x = build_features(tables, snaps, context)[predictor.feature_names]
    history = history_frame(predictor, x, snaps, tables.shipments)
    coverage = predictor.eta.coverage
    return fit_recalibration(history, now, predictor.model_key, days, coverage)
