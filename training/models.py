"""The learners: calibrated delay risk and conformalized ETA quantiles, on LightGBM.

Fitted objects follow scikit-learn's rules: `__init__` stores parameters, `fit` learns the
attributes ending in `_`. Both models keep only plain arrays and LightGBM model text, so a
bundle can be saved and read without pickle (training/predictor.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.calibration import centered_isotonic
from training.engine import active

QUANTILES = (0.1, 0.5, 0.9)
# Risk can only rise with these (LightGBM monotone constraints): more rain, snow or wind, more
# failed attempts or exceptions never make a parcel safer. This keeps the model's answers
# sensible where the data is thin (no snow in a summer-only training period) and makes the
# behaviour testable.
RISK_INCREASING = (
    "wx_dest_precip_1d",
    "wx_dest_precip_3d",
    "wx_dest_snow_3d",
    "wx_current_precip_1d",
    "wx_hub_precip_1d",
    "wx_dest_fc_precip_max",
    "wx_dest_fc_snow",
    "wx_dest_fc_wind_max",
    "wx_hub_fc_precip_today",
    "wx_current_fc_precip_today",
    "wx_dest_severity",
    "prog_failed_attempts",
    "prog_exceptions",
)


@dataclass(frozen=True)
class BoosterParams:
    """LightGBM settings shared by the risk and ETA models (tuned by `stallguard tune`).

    Attributes:
        num_leaves: Leaves per tree.
        max_depth: Deepest split path (-1: unlimited).
        learning_rate: Shrinkage.
        n_rounds: Maximum boosting rounds (early stopping on the calibration fold cuts them).
        min_child_samples: Smallest leaf.
        feature_fraction: Share of features per tree.
        bagging_fraction: Share of rows per tree (every round).
        lambda_l2: L2 regularisation.
        max_bin: Histogram bins (fewer is faster).
        early_stopping_rounds: Stop when the calibration fold has not improved for this long.
        extra_trees: Draw each split's threshold at random (LightGBM's extremely randomized
            trees): a strong regulariser where a few thousand rows would otherwise be
            memorised.
        threads: CPU threads (0: LightGBM's default, all cores).
        seed: Random seed.
    """

    num_leaves: int = 63
    max_depth: int = -1
    learning_rate: float = 0.08
    n_rounds: int = 400
    min_child_samples: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_bin: int = 127
    early_stopping_rounds: int = 30
    extra_trees: bool = False
    threads: int = 0
    seed: int = 7

    def lightgbm(self, **objective: Any) -> dict[str, Any]:
        """The LightGBM parameter dict for one objective."""
        return {
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "extra_trees": self.extra_trees,
            "num_threads": self.threads,
            "seed": self.seed,
            "verbosity": -1,
            "force_col_wise": True,
            **objective,
        }


def fit_booster(
    params: BoosterParams,
    objective: dict[str, Any],
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
) -> lgb.Booster:
    """Train one booster with early stopping on the validation (calibration) fold."""
    return active().train_booster(
        params.lightgbm(**_with_constraints(objective, x_train.columns)),
        (x_train, y_train),
        params.n_rounds,
        valid=(x_valid, y_valid),
        stopping_rounds=params.early_stopping_rounds,
    )


def refit_booster(
    params: BoosterParams,
    objective: dict[str, Any],
    fitted: lgb.Booster,
    x: pd.DataFrame,
    y: np.ndarray,
    n_before: int,
) -> lgb.Booster:
    """Train the same booster again on more rows (`x`), without a fold to stop on.

    The rounds are the ones early stopping chose on `n_before` rows, scaled up with the row
    count (more data supports more rounds at the same learning rate).
    """
    rounds = fitted.best_iteration or fitted.current_iteration()
    rounds = max(1, round(rounds * len(x) / max(n_before, 1)))
    objective = _with_constraints(objective, x.columns)
    return active().train_booster(params.lightgbm(**objective), (x, y), rounds)


def _with_constraints(objective: dict[str, Any], columns: pd.Index) -> dict[str, Any]:
    """The risk objective with its monotone constraints (LightGBM refuses them for quantiles)."""
    if objective.get("objective") != "binary":
        return objective
    increasing = set(RISK_INCREASING)
    return {
        **objective,
        "monotone_constraints": [int(c in increasing) for c in columns],
        "monotone_constraints_method": "advanced",
    }


@dataclass
class RiskModel:
    """Probability that the parcel misses its promise, calibrated on a later time fold.

    The booster is trained on the train fold (early-stopped on the calibration fold); an
    isotonic map fitted on the calibration fold turns its scores into honest probabilities.
    """

    params: BoosterParams = field(default_factory=BoosterParams)
    booster_: lgb.Booster | None = None
    calibration_x_: np.ndarray | None = None
    calibration_y_: np.ndarray | None = None

    def fit(
        self, x_train: pd.DataFrame, y_train: np.ndarray, x_cal: pd.DataFrame, y_cal: np.ndarray
    ) -> RiskModel:
        """Fit the booster on the train fold, then the calibration map on the calibration fold."""
        _need_both_classes(y_train, "train")
        _need_both_classes(y_cal, "calibration")
        self.booster_ = fit_booster(
            self.params, {"objective": "binary"}, x_train, y_train, x_cal, y_cal
        )
        return self.calibrate_on(self.raw(x_cal), y_cal)

    def calibrate_on(self, raw: np.ndarray, y: np.ndarray) -> RiskModel:
        """Fit the (centered) isotonic map from held-out booster scores to outcomes."""
        self.calibration_x_, self.calibration_y_ = centered_isotonic(raw, y)
        return self

    def refit(self, x: pd.DataFrame, y: np.ndarray, n_train: int) -> RiskModel:
        """Retrain the booster on `x` (train and calibration folds), keeping the calibration.

        For small data sets, where the calibration months are too valuable to leave out of
        the trees; the isotonic map learnt on the held-out scores is kept as it is.
        """
        self.booster_ = refit_booster(
            self.params, {"objective": "binary"}, _fitted(self.booster_), x, y, n_train
        )
        return self

    def raw(self, x: pd.DataFrame) -> np.ndarray:
        """Uncalibrated booster probabilities."""
        return np.asarray(_fitted(self.booster_).predict(x), dtype=float)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Map booster probabilities through the isotonic calibration."""
        if self.calibration_x_ is None or self.calibration_y_ is None:
            raise RuntimeError("RiskModel is not fitted")
        return np.interp(raw, self.calibration_x_, self.calibration_y_)

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of being late."""
        return self.calibrate(self.raw(x))


@dataclass
class EtaModel:
    """P10/P50/P90 of the hours left until delivery, conformalized to nominal coverage.

    Quantile boosters learn the three quantiles; on the calibration fold, conformalized
    quantile regression (Romano et al., 2019) finds the margin that widens (or narrows) the
    P10-P90 band until it covers `coverage` of held-out deliveries. Margins are per stage
    group, since a parcel at creation is far less certain than one out for delivery.
    """

    params: BoosterParams = field(default_factory=BoosterParams)
    coverage: float = 0.8
    boosters_: dict[float, lgb.Booster] = field(default_factory=dict)
    margins_: dict[str, float] = field(default_factory=dict)

    def fit(
        self,
        x_train: pd.DataFrame,
        y_train: np.ndarray,
        x_cal: pd.DataFrame,
        y_cal: np.ndarray,
        groups_cal: np.ndarray,
    ) -> EtaModel:
        """Fit the quantile boosters, then the conformal margins per group on the cal fold."""
        self.boosters_ = {
            q: fit_booster(
                self.params, {"objective": "quantile", "alpha": q}, x_train, y_train, x_cal, y_cal
            )
            for q in QUANTILES
        }
        low, _, high = self.bands(x_cal)
        return self.conformalize(low, high, y_cal, groups_cal)

    def conformalize(
        self, low: np.ndarray, high: np.ndarray, y: np.ndarray, groups: np.ndarray
    ) -> EtaModel:
        """Set the margins per group from held-out raw bands and the true hours."""
        score = np.maximum(low - y, y - high)
        self.margins_ = {"*": conformal_margin(score, self.coverage)}
        for group in np.unique(groups):
            mine = groups == group
            if mine.sum() >= 200:  # enough for a stable quantile of the scores
                self.margins_[str(group)] = conformal_margin(score[mine], self.coverage)
        return self

    def refit(self, x: pd.DataFrame, y: np.ndarray, n_train: int) -> EtaModel:
        """Retrain the quantile boosters on `x`, keeping the conformal margins."""
        self.boosters_ = {
            q: refit_booster(
                self.params, {"objective": "quantile", "alpha": q}, booster, x, y, n_train
            )
            for q, booster in self.boosters_.items()
        }
        return self

    def bands(self, x: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw booster quantiles (low, mid, high), before the conformal margins."""
        if not self.boosters_:
            raise RuntimeError("EtaModel is not fitted")
        low, mid, high = (np.asarray(self.boosters_[q].predict(x), dtype=float) for q in QUANTILES)
        return low, mid, high

    def predict(
        self,
        x: pd.DataFrame | np.ndarray,
        groups: np.ndarray,
        margins: dict[str, float] | None = None,
    ) -> np.ndarray:
        """Hours left: an (n, 3) array of P10 <= P50 <= P90, all >= 0.

        Args:
            x: Features.
            groups: Stage group of each row (picks its margin).
            margins: Margins to use instead of the training-time ones (a recalibration).
        """
        return self.widen(*self.bands(x), self.margin_of(groups, margins))

    def margin_of(self, groups: np.ndarray, margins: dict[str, float] | None = None) -> np.ndarray:
        """The conformal margin of each row's group."""
        table = margins if margins is not None else self.margins_
        return np.array([table.get(str(g), table["*"]) for g in groups], dtype=float)

    @staticmethod
    def widen(low: np.ndarray, mid: np.ndarray, high: np.ndarray, margin: np.ndarray) -> np.ndarray:
        """Apply margins to raw bands: an (n, 3) array of P10 <= P50 <= P90, all >= 0."""
        low, high = low - margin, high + margin
        # Crossing quantiles are sorted (Chernozhukov et al., 2010); time left is never negative.
        out = np.sort(np.column_stack([low, mid, high]), axis=1)
        return np.maximum(out, 0.0)


def feature_matrix(
    x: pd.DataFrame, categories: list[list[Any]], cache: dict[Any, np.ndarray] | None = None
) -> np.ndarray:
    """The float matrix LightGBM builds from a feature frame, built once for several boosters.

    LightGBM converts a pandas frame on every `predict` (remapping each categorical column to
    the categories it was trained with); with four boosters per call that conversion costs
    more than the trees on a one-row request. This does the same mapping once: numeric
    columns in one block, categorical ones as codes of the trained categories (NaN if unseen).

    Args:
        x: Feature frame in model column order.
        categories: The booster's `pandas_categorical`: trained categories of each categorical
            column, in column order.
        cache: Where to keep category remappings between calls (a request's categories
            repeat; `set_categories` costs about 0.1 ms a column).
    """
    is_cat = np.array([isinstance(d, pd.CategoricalDtype) for d in x.dtypes])
    out = np.empty((len(x), x.shape[1]), dtype=np.float64)
    numeric = np.flatnonzero(~is_cat)
    out[:, numeric] = x.iloc[:, numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    for k, j in enumerate(np.flatnonzero(is_cat)):
        values = x.iloc[:, j]
        position = trained_positions(k, values.cat.categories, categories[k], cache)
        codes = values.cat.codes.to_numpy()
        out[:, j] = np.where(codes < 0, np.nan, position[np.maximum(codes, 0)])
    return out


_CACHE_LIMIT = 4096  # remappings kept per predictor; a flood of new category sets resets it


def trained_positions(
    column: int, have: pd.Index, trained: list[Any], cache: dict[Any, np.ndarray] | None
) -> np.ndarray:
    """Position of each of `have` in `trained` (NaN when not trained), as floats.

    Cached by (column, categories): a request's categories repeat from call to call.
    """
    key = (column, tuple(have))
    found = cache.get(key) if cache is not None else None
    if found is None:
        found = pd.Index(trained).get_indexer(have).astype(np.float64)
        found[found < 0] = np.nan
        if len(found) == 0:
            found = np.full(1, np.nan)  # only missing values: every code is -1 anyway
        if cache is not None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = found
    return found


def conformal_margin(score: np.ndarray, coverage: float) -> float:
    """The finite-sample corrected `coverage` quantile of the conformity scores."""
    n = len(score)
    if n == 0:
        return 0.0
    level = min(1.0, np.ceil((n + 1) * coverage) / n)
    return float(np.quantile(score, level, method="higher"))


def _fitted(booster: lgb.Booster | None) -> lgb.Booster:
    if booster is None:
        raise RuntimeError("model is not fitted")
    return booster


def _need_both_classes(y: np.ndarray, fold: str) -> None:
    if len(np.unique(y)) < 2:
        raise ValueError(
            f"the {fold} fold has only one class ({len(y)} snapshots); "
            "need both late and on-time parcels: use a longer or larger world"
        )
