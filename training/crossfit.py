"""Cross-fitted calibration over time blocks, for data sets too small to spare a fold.

With a few thousand orders (Olist), holding the last months out for calibration costs the
trees their most relevant data, and a calibration fold of one calm period under-states how
wrong a model is in the next one. Cross-fitting over time blocks fixes both: the rows before
evaluation are cut into `k` consecutive blocks of shipments; for each block the boosters are
trained on the other blocks and score it, so every row gets a held-out prediction made across
a change of period. The isotonic map and the conformal margins are fitted on those held-out
predictions, and the final boosters are trained on all the rows.

On Olist it covers better than calibrating on the last two months, and both beat leaving
those months out of the trees (docs/real-data.md measures the three).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.models import QUANTILES, EtaModel, RiskModel, refit_booster


def time_blocks(created_at: pd.Series, k: int) -> np.ndarray:
    """Block 0..k-1 of each row: consecutive, equal-sized ranges of shipment creation time.

    Rows of one shipment share its creation time and therefore its block.
    """
    rank = created_at.rank(method="dense").to_numpy(dtype=float)
    return np.minimum((rank - 1) / rank.max() * k, k - 1).astype(np.int64)


def held_out_risk(
    model: RiskModel, x: pd.DataFrame, y: np.ndarray, blocks: np.ndarray, n_train: int
) -> np.ndarray:
    """Raw booster score of every row from boosters trained on the other blocks.

    Args:
        model: A fitted risk model (its booster's rounds are reused).
        x: Features of the rows.
        y: Their late flags.
        blocks: Time block of each row.
        n_train: Rows the fitted booster was trained on (scales the rounds).
    """
    booster = model.booster_
    if booster is None:
        raise RuntimeError("RiskModel is not fitted")
    raw = np.empty(len(y))
    for block in np.unique(blocks):
        held = blocks == block
        fitted = refit_booster(
            model.params, {"objective": "binary"}, booster, x[~held], y[~held], n_train
        )
        raw[held] = fitted.predict(x[held])
    return raw


def held_out_bands(
    model: EtaModel, x: pd.DataFrame, hours: np.ndarray, blocks: np.ndarray, n_train: int
) -> tuple[np.ndarray, np.ndarray]:
    """Raw P10 and P90 of every row from quantile boosters trained on the other blocks."""
    if not model.boosters_:
        raise RuntimeError("EtaModel is not fitted")
    low, high = np.empty(len(hours)), np.empty(len(hours))
    edges = {QUANTILES[0]: low, QUANTILES[-1]: high}
    for block in np.unique(blocks):
        held = blocks == block
        for q, out in edges.items():
            fitted = refit_booster(
                model.params,
                {"objective": "quantile", "alpha": q},
                model.boosters_[q],
                x[~held],
                hours[~held],
                n_train,
            )
            out[held] = fitted.predict(x[held])
    return low, high


def cross_fit_risk(
    model: RiskModel, x: pd.DataFrame, y: np.ndarray, blocks: np.ndarray, n_train: int
) -> np.ndarray:
    """Calibrate `model` on held-out block scores, then refit its booster on all rows.

    Returns:
        The held-out calibrated risk of every row (for choosing the alert threshold).
    """
    raw = held_out_risk(model, x, y, blocks, n_train)
    model.calibrate_on(raw, y)
    model.refit(x, y, n_train)
    return model.calibrate(raw)


def cross_fit_eta(
    model: EtaModel,
    x: pd.DataFrame,
    hours: np.ndarray,
    groups: np.ndarray,
    blocks: np.ndarray,
    n_train: int,
) -> None:
    """Conformal margins from held-out block bands, then the boosters refit on all rows."""
    low, high = held_out_bands(model, x, hours, blocks, n_train)
    model.conformalize(low, high, hours, groups)
    model.refit(x, hours, n_train)
