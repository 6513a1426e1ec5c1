"""Refit for deployment: the backtest's recipe once more, on every outcome known at the data's end.

The backtest (training/train.py) fits on the early folds and measures on the latest period,
which the model never saw: its metrics are the run's headline and the promotion gate's input.
But a model that stops learning where its evaluation fold begins would serve months stale.
So the predictor that is logged and registered is refitted on every snapshot whose late flag
was settled by the data's end:

- boosters with the backtest's number of rounds, scaled to the rows (early stopping needs a
  fold to stop on, and the refit has none);
- the calibration map, the conformal margins and the alert threshold from held-out scores
  over time blocks: each block scored by boosters that never saw it. By default these are the
  backtest's own held-out scores (the calibration fold, or its cross-fitted blocks, scored
  before the evaluation fold; the evaluation fold scored by the backtest's model), which
  costs no extra fit. With `blocks` >= 2 the refit cross-fits anew over that many blocks of
  everything (training/crossfit.py), at one more fit per block and model.

As in scikit-learn's `CalibratedClassifierCV(ensemble=False)`, the map learnt on held-out
scores then applies to the final boosters trained on all the rows. docs/model.md compares the
refitted model with the backtest's on a later period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.crossfit import held_out_bands, held_out_risk, time_blocks
from training.metrics import choose_threshold
from training.models import EtaModel, RiskModel
from training.predictor import STAGE_FEATURE, Predictor


@dataclass(frozen=True)
class HeldOut:
    """Raw scores of rows by boosters that never saw them (NaN for rows not held out).

    Attributes:
        raw: Raw risk booster probability, one per snapshot.
        low: Raw P10 band (hours), one per snapshot.
        high: Raw P90 band (hours), one per snapshot.
    """

    raw: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def empty(cls, n: int) -> HeldOut:
        """No row held out yet."""
        return cls(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan))

    def add_risk(self, rows: np.ndarray, raw: np.ndarray) -> None:
        """Record the held-out risk scores of `rows` (a mask)."""
        self.raw[rows] = raw

    def add_bands(self, rows: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        """Record the held-out raw bands of `rows` (a mask)."""
        self.low[rows], self.high[rows] = low, high


@dataclass(frozen=True)
class RefitRows:
    """What the refit learns from: snapshots whose outcome is known at the data's end.

    Attributes:
        x: Features of every snapshot, in model column order.
        late: Late flags.
        remaining_h: Hours to delivery (NaN when not delivered).
        shipment_id: Shipment of each row (the threshold is chosen per parcel).
        created_at: Creation time of each row's shipment (orders the time blocks).
        rows: Rows the risk booster learns from.
        eta_rows: Rows the quantile boosters learn from (delivered, capped like the
            backtest's).
    """

    x: pd.DataFrame
    late: np.ndarray
    remaining_h: np.ndarray
    shipment_id: np.ndarray
    created_at: pd.Series
    rows: np.ndarray
    eta_rows: np.ndarray


def refit_for_deployment(
    backtest: Predictor,
    data: RefitRows,
    held_out: HeldOut,
    blocks: int,
    rows_before: tuple[int, int],
    min_precision: float,
    info: dict[str, object],
) -> Predictor:
    """The predictor to deploy: `backtest`'s recipe refitted on `data`.

    Args:
        backtest: The fitted backtest predictor (its boosters give the rounds; it is not
            changed).
        data: Everything known at the data's end.
        held_out: The backtest's held-out scores (used when `blocks` is 0).
        blocks: 0: calibrate on `held_out`; k >= 2: cross-fit anew over k time blocks.
        rows_before: Rows the backtest's risk and quantile boosters were trained on (scale
            the rounds).
        min_precision: Early-warning precision the alert threshold must keep.
        info: What the deployed model is (merged into `backtest.info`).

    Raises:
        ValueError: One block, or the rows hold a single class.
    """
    if blocks == 1 or blocks < 0:
        raise ValueError(f"refit blocks must be 0 or at least 2, got {blocks}")
    rows, eta_rows = data.rows, data.eta_rows
    if len(np.unique(data.late[rows])) < 2:
        raise ValueError("the refit rows hold only one class: nothing to calibrate on")
    risk_before, eta_before = rows_before
    x = data.x
    groups = x[STAGE_FEATURE].astype("str").to_numpy()
    risk = RiskModel(backtest.risk.params, booster_=backtest.risk.booster_)
    eta = EtaModel(
        backtest.eta.params, backtest.eta.coverage, boosters_=dict(backtest.eta.boosters_)
    )
    if blocks == 0:
        scored = rows & ~np.isnan(held_out.raw)
        raw = held_out.raw[scored]
        banded = eta_rows & ~np.isnan(held_out.low)
        low, high = held_out.low[banded], held_out.high[banded]
    else:
        block = time_blocks(data.created_at, blocks)
        scored, banded = rows, eta_rows
        raw = held_out_risk(risk, x[rows], data.late[rows], block[rows], risk_before)
        low, high = held_out_bands(
            eta, x[eta_rows], data.remaining_h[eta_rows], block[eta_rows], eta_before
        )
    risk.calibrate_on(raw, data.late[scored])
    eta.conformalize(low, high, data.remaining_h[banded], groups[banded])
    threshold = choose_threshold(
        data.shipment_id[scored],
        data.late[scored].astype(bool),
        x.loc[scored, "prog_hours_to_promise"].to_numpy(dtype=float),
        risk.calibrate(raw),
        min_precision,
    )
    risk.refit(x[rows], data.late[rows], risk_before)
    eta.refit(x[eta_rows], data.remaining_h[eta_rows], eta_before)
    return Predictor(
        risk,
        eta,
        threshold,
        list(backtest.feature_names),
        backtest.context,
        {**backtest.info, **info, "threshold": threshold},
    )
