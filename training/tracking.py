"""MLflow: one experiment per data source, a logged run per training, the `stallguard` registry."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from features.schema import FEATURES
from training import plots
from training.config import CHALLENGER, TrackingConfig, TrainConfig
from training.evaluation import importance_by_family
from training.predictor import Predictor
from training.pyfunc import example_input, signature
from training.sources import TrainingData
from training.train import TrainResult

MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
REQUIREMENTS = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow", "holidays")


def connect(tracking: TrackingConfig) -> MlflowClient:
    """Point MLflow at the tracking store and registry; returns a client for them."""
    # MLflow sets its logger to INFO when imported and narrates every step; keep warnings.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # uv venvs have no pip; MLflow warns on every log_model that it cannot pin pip's version.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(tracking.uri)
    mlflow.set_registry_uri(tracking.uri)
    return MlflowClient(tracking_uri=tracking.uri, registry_uri=tracking.uri)


def experiment_id(client: MlflowClient, tracking: TrackingConfig, name: str) -> str:
    """The experiment called `name`, created with the configured artifact folder if new."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    location = tracking.artifacts
    if "://" not in location:
        location = Path(location).resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=f"{location}/{name}"))


def experiment_name(source: str) -> str:
    """One experiment per data source."""
    return f"stallguard-{source}"


@dataclass(frozen=True)
class LoggedModel:
    """Where a training run went."""

    run_id: str
    version: str
    model_uri: str


def log_training(
    result: TrainResult,
    data: TrainingData,
    config: TrainConfig,
    tracking: TrackingConfig,
    register: bool = True,
    parent_run_id: str | None = None,
) -> LoggedModel:
    """Log a training run (params, metrics, slices, plots, model) and register a challenger."""
    client = connect(tracking)
    experiment = experiment_id(client, tracking, experiment_name(data.source))
    with mlflow.start_run(
        experiment_id=experiment,
        run_name=f"train {data.source} {data.fingerprint[:8]}",
        nested=parent_run_id is not None,
        parent_run_id=parent_run_id,
    ) as run:
        mlflow.set_tags({"source": data.source, "data_fingerprint": data.fingerprint, **git()})
        mlflow.log_params(train_params(config, data, result))
        mlflow.log_metrics(_finite(result.evaluation.metrics))
        mlflow.log_metrics({f"time_{k}_s": v for k, v in result.timings.items()})
        _log_artifacts(result)
        if data.import_report is not None:  # what a real-data import dropped, per reason
            mlflow.log_text(data.import_report.to_csv(index=False), "import_report.csv")
        info = _log_model(result.predictor, data, tracking if register else None)
    version = ""
    if register and info.registered_model_version is not None:
        version = str(info.registered_model_version)
        _tag_version(client, tracking.registered_model, version, data, result)
        client.set_registered_model_alias(tracking.registered_model, CHALLENGER, version)
    return LoggedModel(run.info.run_id, version, info.model_uri)


def train_params(config: TrainConfig, data: TrainingData, result: TrainResult) -> dict[str, Any]:
    """Params of a run: model settings, snapshot plan, data window, fold sizes."""
    params: dict[str, Any] = {f"lgb_{k}": v for k, v in dataclasses.asdict(config.params).items()}
    params.update({f"eta_{k}": v for k, v in dataclasses.asdict(config.eta_params).items()})
    params.update({f"plan_{k}": v for k, v in dataclasses.asdict(config.plan).items()})
    params.update(
        {
            k: v
            for k, v in dataclasses.asdict(config).items()
            if k not in ("params", "eta_params", "plan") and not isinstance(v, dict)
        }
    )
    params.update(
        {
            "source": data.source,
            "data_dir": str(data.location.resolve()),
            "data_fingerprint": data.fingerprint,
            "threshold": result.predictor.threshold,
            "n_features": len(result.predictor.feature_names),
            **result.window.as_params(),
            **{f"n_{k}": v for k, v in result.counts.items()},
        }
    )
    return params


def git() -> dict[str, str]:
    """The git commit of the code (and whether the tree had uncommitted changes)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown"}
    return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}


def _log_artifacts(result: TrainResult) -> None:
    evaluation = result.evaluation
    features = [
        {"name": f.name, "family": f.family, "description": f.description}
        for f in FEATURES
        if f.name in result.predictor.feature_names
    ]
    mlflow.log_dict({"features": features}, "features.json")
    mlflow.log_dict(result.window.as_params(), "data_window.json")
    mlflow.log_table(evaluation.slices, "slices.json")
    mlflow.log_text(evaluation.slices.to_csv(index=False), "slices.csv")
    shares = importance_by_family(result.predictor)
    mlflow.log_dict({k: float(v) for k, v in shares.items()}, "importance_by_family.json")
    figures = {
        "calibration_curve.png": plots.calibration_curve(evaluation.frame),
        "pr_curve.png": plots.pr_curve(evaluation.frame),
        "eta_error_by_stage.png": plots.eta_error_by_stage(evaluation.frame),
        "importance_by_family.png": plots.importance_by_family(shares),
    }
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}")
        plots.plt.close(figure)


def _log_model(
    predictor: Predictor, data: TrainingData, tracking: TrackingConfig | None
) -> mlflow.models.model.ModelInfo:
    with tempfile.TemporaryDirectory() as tmp:
        bundle = predictor.save(Path(tmp) / "bundle")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={"bundle": str(bundle)},
            signature=signature(),
            input_example=example_input(data.tables),
            model_config={"context_dir": ""},
            pip_requirements=requirements(),
            registered_model_name=tracking.registered_model if tracking else None,
        )


def requirements() -> list[str]:
    """Pinned runtime requirements of the model (the stallguard package itself too)."""
    pins = [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS]
    return [*pins, f"stallguard=={metadata.version('stallguard')}"]


def _tag_version(
    client: MlflowClient, name: str, version: str, data: TrainingData, result: TrainResult
) -> None:
    tags = {
        "source": data.source,
        "data_fingerprint": data.fingerprint,
        **result.window.as_params(),
        **{k: f"{v:.4f}" for k, v in _finite(result.evaluation.metrics).items()},
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if not math.isnan(float(v))}


def load_predictor(model_uri: str, context_dir: Path | None = None) -> Predictor:
    """The Predictor inside a logged or registered model (`models:/stallguard@champion`)."""
    config = {"context_dir": str(context_dir)} if context_dir else None
    model = mlflow.pyfunc.load_model(model_uri, model_config=config)
    wrapper = model.unwrap_python_model()
    predictor = getattr(wrapper, "predictor", None)
    if not isinstance(predictor, Predictor):
        raise ValueError(f"{model_uri} is not a Stallguard model")
    return predictor


def version_of(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version holding `alias`, or None."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return None


def run_record(client: MlflowClient, run_id: str) -> tuple[dict[str, str], dict[str, float]]:
    """Params and metrics of a run."""
    run = client.get_run(run_id)
    return dict(run.data.params), dict(run.data.metrics)


def metrics_table(metrics: dict[str, float]) -> pd.DataFrame:
    """Metrics as a two-column frame for printing."""
    return pd.DataFrame({"metric": list(metrics), "value": [float(v) for v in metrics.values()]})


def dumps(value: Any) -> str:
    """Compact JSON for tags."""
    return json.dumps(value, default=str, ensure_ascii=False)
