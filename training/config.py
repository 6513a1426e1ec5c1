"""Typed configuration of training, tracking and promotion, read at the entry point.

Nothing here reads the environment: the entry points build these from the settings
(serving/settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from features.catalog import FEATURE_NAMES
from sources import TrainingDefaults, get_source
from training.dataset import SnapshotPlan
from training.models import BoosterParams

REGISTERED_MODEL = "stallguard"
CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class TrackingConfig:
    """Where MLflow runs, artifacts and the registry live.

    Attributes:
        uri: Tracking (and registry) URI (the settings default it to `mlflow.db` in the
            current folder).
        artifacts: Where new experiments store artifacts (a local folder by default).
        registered_model: Registry name of the model.
    """

    uri: str = "sqlite:///mlflow.db"
    artifacts: str = "mlartifacts"
    registered_model: str = REGISTERED_MODEL


# The risk model's trees are kept to depth 6 (room for all 63 leaves): TreeSHAP, which explains
# every at-risk parcel, costs leaves x depth^2 per tree, and unbounded trees reached depth 19.
# Depth 6 kept the AUC and made reasons several times cheaper (docs/model.md measures it).
RISK_PARAMS = BoosterParams(max_depth=6)

# A calibration fold shorter than two months is one regime: its map and margins miss the next
# weeks' shocks, and cross-fitting over the whole period before evaluation fixes that; a longer
# fold already spans regimes, and cross-fitting it over-covers (docs/model.md measures both).
SHORT_CALIBRATION_DAYS = 60.0
AUTO_CROSS_FIT_BLOCKS = 4


@dataclass(frozen=True)
class TrainConfig:
    """What `stallguard train` fits and how.

    Attributes:
        params: LightGBM settings of the risk model (and the oracle): `RISK_PARAMS`.
        eta_params: Settings of the three quantile models: quantile boosting is several
            times slower than binary, and coarser bins and a faster rate cost little here
            (P50 MAE 7.61 h -> 7.64 h on the default world, at half the time).
        plan: Snapshot schedule.
        calibrate_share: Share of the creation period (before evaluation) that calibrates.
            0.25: about three months on the default world (July to October: the monsoon and
            Chuseok). At 0.15 the fold was mostly the Chuseok rush, and its wide ETA margins
            over-covered the calmer evaluation months (0.827-0.836 on three seeds; 0.816-0.825
            at 0.25, docs/model.md).
        evaluate_share: Latest share of the creation period that evaluates.
        coverage: Target P10-P90 coverage of the ETA interval.
        min_precision: Early-warning precision the alert threshold must keep.
        max_train_snapshots: Cap on training snapshots (sampled by parcel; 0: no cap).
        eta_max_rows: Cap on rows the quantile models learn from (they are the slow part).
        oracle: Also fit the oracle when hidden causes are available.
        exclude_features: Features the models do not use. `route_lane` is an id with about
            900 values that trees overfit (docs/model.md), while the lane's behaviour reaches
            the model through the `hist_lane_*` features.
        recalibration_days: Trailing window of the daily rolling recalibration of the risk map
            and ETA margins (0: keep the training-time calibration). Evaluation measures the
            model as served with it; the bundle carries the refit at the data's end.
        stage_metrics: (snapshot stage, name) pairs whose metrics are also logged on their
            own (`<name>_risk_roc_auc`, `<name>_eta_p50_mae_d`, baselines in days).
        cross_fit_blocks: 0 calibrates on the calibration fold. k > 0 cross-fits the
            calibration over k time blocks of everything before evaluation and trains the final
            boosters on all of it (training/crossfit.py): for small data sets, where the latest
            months are too valuable to hold out, and for short periods, where one calibration
            month is one regime and under-states the error of the next. None (the default):
            `AUTO_CROSS_FIT_BLOCKS` when the calibration fold spans fewer than
            `SHORT_CALIBRATION_DAYS`, else 0 (`blocks_for`).
        refit: Refit for deployment after the backtest (training/deployment.py): the model
            that is logged and registered learns from every outcome known at the data's end.
            False registers the backtest's own model, which stops learning where the
            evaluation fold begins.
        refit_blocks: 0: the refit's calibration, margins and threshold come from the
            backtest's held-out scores (the calibration fold, or its cross-fitted blocks, and
            the evaluation fold), at no extra fit. k >= 2: cross-fit anew over k time blocks
            of everything (one more fit per block and model).
        seed: Sampling seed.
    """

    params: BoosterParams = RISK_PARAMS
    eta_params: BoosterParams = field(
        default_factory=lambda: BoosterParams(learning_rate=0.12, max_bin=63)
    )
    plan: SnapshotPlan = field(default_factory=SnapshotPlan)
    calibrate_share: float = 0.25
    evaluate_share: float = 0.2
    coverage: float = 0.8
    min_precision: float = 0.5
    max_train_snapshots: int = 0
    eta_max_rows: int = 200_000
    oracle: bool = True
    exclude_features: tuple[str, ...] = ("route_lane",)
    recalibration_days: float = 0.0
    stage_metrics: tuple[tuple[str, str], ...] = ()
    cross_fit_blocks: int | None = None
    refit: bool = True
    refit_blocks: int = 0
    seed: int = 7

    @classmethod
    def for_source(cls, source: str, **overrides: Any) -> TrainConfig:
        """The training defaults a source declares (sources/), with `overrides` on top.

        Olist, for one, declares small trees with randomised thresholds, snapshots only at
        purchase and at the carrier hand-over, each stage's metrics on their own, and its
        calibration cross-fitted over five time blocks (docs/real-data.md).
        """
        return cls.from_defaults(get_source(source).defaults, **overrides)

    @classmethod
    def from_defaults(cls, defaults: TrainingDefaults, **overrides: Any) -> TrainConfig:
        """The config a source's `TrainingDefaults` ask for, with `overrides` on top."""
        if defaults.booster:
            booster = BoosterParams(**defaults.booster)
            overrides.setdefault("params", booster)
            overrides.setdefault("eta_params", booster)
        if defaults.snapshot_every_hours is not None:
            overrides.setdefault("plan", SnapshotPlan(every_hours=defaults.snapshot_every_hours))
        if defaults.cross_fit_blocks is not None:
            overrides.setdefault("cross_fit_blocks", defaults.cross_fit_blocks)
        if defaults.stage_metrics:
            overrides.setdefault("stage_metrics", defaults.stage_metrics)
        return cls(**overrides)

    def blocks_for(self, calibration_days: float) -> int:
        """The cross-fit blocks of a backtest whose calibration fold spans this many days."""
        if self.cross_fit_blocks is not None:
            return self.cross_fit_blocks
        return AUTO_CROSS_FIT_BLOCKS if calibration_days < SHORT_CALIBRATION_DAYS else 0

    @property
    def feature_names(self) -> list[str]:
        """The model's features, in registry order."""
        return [f for f in FEATURE_NAMES if f not in self.exclude_features]


@dataclass(frozen=True)
class GateConfig:
    """When a challenger may replace the champion, and floors for the very first champion.

    A challenger passes when, on the same evaluation window, it is no worse than the champion
    beyond these tolerances on every gate metric. The first-champion floors are sanity floors
    that catch a broken model; they are looser than the targets in docs/model.md, which are
    tracked and reported separately (the default world's evaluation month brings snow and a
    regional stoppage that the training months never saw, and interval coverage drops there).

    Attributes:
        auc_tolerance: Allowed drop in `risk_roc_auc`.
        ece_tolerance: Allowed rise in `risk_ece`.
        mae_tolerance: Allowed relative rise in `eta_p50_mae_h` (0.02 = 2%).
        coverage_tolerance: Allowed extra distance of coverage from its target.
        coverage_target: Nominal P10-P90 coverage.
        min_auc: Floor for a first champion.
        max_ece: Ceiling for a first champion.
        max_coverage_gap: Coverage distance from target allowed for a first champion.
    """

    auc_tolerance: float = 0.002
    ece_tolerance: float = 0.005
    mae_tolerance: float = 0.02
    coverage_tolerance: float = 0.01
    coverage_target: float = 0.8
    min_auc: float = 0.7
    max_ece: float = 0.05
    max_coverage_gap: float = 0.1
