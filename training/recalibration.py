"""Rolling recalibration: refit the risk map and the ETA margins on recently settled parcels.

The boosters learn slow structure (routes, stages, weather effects) from months of history;
the isotonic risk map and the conformal ETA margins are cheap and can follow the network week
by week. When December brings snow and a hub stoppage that the training months never had,
the booster still ranks parcels well but its probabilities run low and its intervals run
narrow; refitting the two thin layers daily on the last weeks of outcomes fixes most of that
(docs/model.md, "Rolling recalibration").

Only outcomes known at the refit time `at` are used:
- risk: snapshots of parcels whose promise passed before `at` (every such late flag is known,
  and choosing rows by promise, not by outcome, keeps the sample unbiased);
- ETA: snapshots from the window, delivered before `at` (exact score) or still undelivered
  at `at` (censored: the parcel takes at least `at - as_of`, which bounds its score below).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.calibration import centered_isotonic
from training.models import conformal_margin

RECALIBRATION_FILE = "recalibration.json"
DEFAULT_DAYS = 21.0
MIN_RISK_ROWS = 1_000  # below this the refit is noisier than the map it replaces
MIN_GROUP_ROWS = 200  # as for the training-time margins
HOUR = pd.Timedelta(hours=1)
HISTORY_COLUMNS = ("as_of", "promised_at", "delivered_at", "raw", "low", "high", "group")


@dataclass(frozen=True)
class Recalibration:
    """A refitted risk map and ETA margins for one model, valid from `fitted_at`.

    Attributes:
        model_key: The model it belongs to (`Predictor.model_key`); another model ignores it.
        fitted_at: Refit time (UTC ISO): only outcomes known then were used.
        days: Length of the trailing window.
        risk_x, risk_y: Isotonic map from booster probability to probability.
        margins: Conformal margin (hours) per stage group, "*" for the rest.
        risk_rows, eta_rows: Snapshots each part was fitted on.
    """

    model_key: str
    fitted_at: str
    days: float
    risk_x: list[float]
    risk_y: list[float]
    margins: dict[str, float]
    risk_rows: int
    eta_rows: int

    def risk(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability from booster probability."""
        return np.interp(raw, self.risk_x, self.risk_y)

    def write(self, directory: str | Path) -> Path:
        """Write `recalibration.json` into `directory` (a serving context directory)."""
        path = Path(directory) / RECALIBRATION_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def read(cls, directory: str | Path) -> Recalibration | None:
        """The recalibration in `directory`, or None when it has none."""
        path = Path(directory) / RECALIBRATION_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def fit_recalibration(
    history: pd.DataFrame,
    at: pd.Timestamp,
    model_key: str,
    days: float = DEFAULT_DAYS,
    coverage: float = 0.8,
) -> Recalibration | None:
    """Refit on the snapshots of `history` from the `days` before `at`.

    Args:
        history: Scored snapshots (`HISTORY_COLUMNS`, see `history_frame`), canceled parcels
            left out.
        at: Refit time: nothing after it is read.
        model_key: The model the scores come from.
        days: Trailing window.
        coverage: Target P10-P90 coverage.

    Returns:
        The recalibration, or None when the window holds too few settled parcels to refit.
    """
    recent = history[(history["as_of"] >= at - pd.Timedelta(days=days)) & (history["as_of"] < at)]
    settled = (recent["promised_at"] < at).to_numpy()
    if settled.sum() < MIN_RISK_ROWS:
        return None
    on_time = (recent["delivered_at"] <= recent["promised_at"]).fillna(False).to_numpy()
    late = (~on_time[settled]).astype(float)
    if len(np.unique(late)) < 2:
        return None
    risk_x, risk_y = centered_isotonic(recent["raw"].to_numpy()[settled], late)
    score = _scores(recent, at)
    groups = recent["group"].to_numpy()
    margins = {"*": conformal_margin(score, coverage)}
    for group in np.unique(groups):
        mine = groups == group
        if mine.sum() >= MIN_GROUP_ROWS:
            margins[str(group)] = conformal_margin(score[mine], coverage)
    return Recalibration(
        model_key=model_key,
        fitted_at=at.isoformat(),
        days=float(days),
        risk_x=[float(v) for v in risk_x],
        risk_y=[float(v) for v in risk_y],
        margins=margins,
        risk_rows=int(settled.sum()),
        eta_rows=len(score),
    )


def _scores(recent: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    """CQR conformity scores, exact for delivered parcels and a lower bound for the rest."""
    low = recent["low"].to_numpy(dtype=float)
    high = recent["high"].to_numpy(dtype=float)
    delivered = (recent["delivered_at"] < at).fillna(False).to_numpy()
    known_h = ((recent["delivered_at"] - recent["as_of"]) / HOUR).to_numpy(dtype=float)
    waited_h = ((at - recent["as_of"]) / HOUR).to_numpy(dtype=float)
    # Still undelivered: the true time left is some y >= waited_h, and the V-shaped score
    # max(low - y, y - high) is smallest there at y = max(waited_h, the band's middle).
    y = np.where(delivered, known_h, np.maximum(waited_h, (low + high) / 2))
    return np.maximum(low - y, y - high)


def rolling(
    history: pd.DataFrame,
    targets: pd.DataFrame,
    model_key: str,
    days: float = DEFAULT_DAYS,
    coverage: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """Risk and margins for `targets` as a daily refit would have served them.

    Each target snapshot gets the recalibration fitted at midnight (UTC) of its own day on
    the outcomes known then: how `stallguard recalibrate` run daily behaves in production.

    Args:
        history: Scored snapshots to refit on (they may include the targets themselves).
        targets: Scored snapshots to recalibrate (`as_of`, `raw`, `group`).
        model_key: The model the scores come from.
        days: Trailing window.
        coverage: Target P10-P90 coverage.

    Returns:
        (risk, margin): NaN where a day had too little history to refit (the caller keeps
        the training-time calibration there).
    """
    risk = np.full(len(targets), np.nan)
    margin = np.full(len(targets), np.nan)
    day = targets["as_of"].dt.floor("D").to_numpy()
    raw = targets["raw"].to_numpy(dtype=float)
    groups = targets["group"].astype("str").to_numpy()
    for start in np.unique(day):
        mine = day == start
        fitted = fit_recalibration(history, pd.Timestamp(start), model_key, days, coverage)
        if fitted is None:
            continue
        risk[mine] = fitted.risk(raw[mine])
        margin[mine] = [fitted.margins.get(g, fitted.margins["*"]) for g in groups[mine]]
    return risk, margin
