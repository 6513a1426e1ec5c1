"""`stallguard tune`: Optuna search over the LightGBM settings, one nested MLflow run per trial.

Validation is by time: each trial trains on the train fold and is scored on the calibration
fold; the evaluation fold stays untouched for `train` to report on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mlflow
import optuna
from sklearn.metrics import roc_auc_score

from features.build import build_features
from training.config import TrackingConfig, TrainConfig
from training.dataset import labels, sample_snapshots
from training.metrics import expected_calibration_error
from training.models import BoosterParams, RiskModel
from training.sources import TrainingData
from training.tracking import connect, experiment_id, experiment_name, git
from training.train import cap_train_snapshots, window_of


@dataclass(frozen=True)
class TuneResult:
    """The best trial of a search."""

    parent_run_id: str
    best_params: dict[str, Any]
    best_auc: float
    trials: int


def search_space(trial: optuna.Trial, base: BoosterParams) -> BoosterParams:
    """The settings a trial tries."""
    return dataclasses.replace(
        base,
        num_leaves=trial.suggest_int("num_leaves", 15, 255, log=True),
        max_depth=trial.suggest_int("max_depth", 4, 12),  # caps num_leaves at 2^max_depth
        learning_rate=trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        min_child_samples=trial.suggest_int("min_child_samples", 20, 1000, log=True),
        feature_fraction=trial.suggest_float("feature_fraction", 0.5, 1.0),
        lambda_l2=trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    )


def tune(
    data: TrainingData,
    tracking: TrackingConfig,
    trials: int = 10,
    config: TrainConfig | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> TuneResult:
    """Search the risk model's settings; log a parent run with one nested run per trial."""
    config = config or TrainConfig(max_train_snapshots=300_000)
    window = window_of(data, config)
    snaps = sample_snapshots(data.tables, data.now, config.plan)
    split = window.split(snaps, data.tables.shipments)
    keep = (split.train | split.calibrate) & cap_train_snapshots(
        snaps, split.train, config.max_train_snapshots, config.seed
    )
    snaps = snaps[keep].reset_index(drop=True)
    split = window.split(snaps, data.tables.shipments)
    x = build_features(data.tables, snaps)[config.feature_names]
    y = labels(snaps, data.tables.shipments, data.now)["late"].to_numpy(dtype=float)
    client = connect(tracking)
    experiment = experiment_id(client, tracking, experiment_name(data.source))
    with mlflow.start_run(experiment_id=experiment, run_name=f"tune {data.source}") as parent:
        mlflow.set_tags({"source": data.source, "kind": "tune", **git()})
        mlflow.log_params(
            {"trials": trials, **window.as_params(), "data_fingerprint": data.fingerprint}
        )

        def objective(trial: optuna.Trial) -> float:
            params = search_space(trial, config.params)
            with mlflow.start_run(
                experiment_id=experiment, run_name=f"trial {trial.number}", nested=True
            ):
                mlflow.log_params(dataclasses.asdict(params))
                model = RiskModel(params).fit(
                    x[split.train], y[split.train], x[split.calibrate], y[split.calibrate]
                )
                raw = model.raw(x[split.calibrate])
                auc = float(roc_auc_score(y[split.calibrate], raw))
                calibrated = model.calibrate(raw)
                mlflow.log_metrics(
                    {
                        "val_risk_roc_auc": auc,
                        "val_risk_ece": expected_calibration_error(y[split.calibrate], calibrated),
                        "best_iteration": float(
                            model.booster_.best_iteration if model.booster_ else 0
                        ),
                    }
                )
            if progress:
                progress(trial.number, auc)
            return auc

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed)
        )
        study.optimize(objective, n_trials=trials)
        best = dict(study.best_params)
        mlflow.log_params({f"best_{k}": v for k, v in best.items()})
        mlflow.log_metric("best_val_risk_roc_auc", float(study.best_value))
        mlflow.log_dict(best, "best_params.json")
    return TuneResult(parent.info.run_id, best, float(study.best_value), trials)
