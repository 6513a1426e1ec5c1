"""MLflow: one experiment per data source, a logged run per training, the `stallguard` registry."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities.model_registry import ModelVersion
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from features.catalog import FEATURES
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


# What a model version's tags show: the headline of its backtest (the run has everything).
HEADLINE_METRICS = (
    "risk_roc_auc",
    "risk_pr_auc",
    "risk_ece",
    "eta_p50_mae_h",
    "eta_p10_p90_coverage",
    "early_warning_recall_12h",
    "early_warning_precision",
)
BACKTEST_DIR = "backtest"  # run artifact: the backtest's bundle, for re-evaluating the gate


def log_training(
    result: TrainResult,
    data: TrainingData,
    config: TrainConfig,
    tracking: TrackingConfig,
    register: bool = True,
    parent_run_id: str | None = None,
) -> LoggedModel:
    """Log a training run (params, metrics, slices, plots, model) and register a challenger.

    The run starts when the training did (`result.started_at`), so its duration in the UI
    is the whole training, not only the logging.
    """
    client = connect(tracking)
    experiment = experiment_id(client, tracking, experiment_name(data.source))
    tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else {}
    created = client.create_run(
        experiment,
        start_time=int(result.started_at * 1000),
        tags={"mlflow.note.content": description(data, result), **tags},
        run_name=f"train {data.source} {data.fingerprint[:8]}",
    )
    with mlflow.start_run(run_id=created.info.run_id, nested=parent_run_id is not None) as run:
        mlflow.set_tags({"source": data.source, "data_fingerprint": data.fingerprint, **git()})
        mlflow.log_params(train_params(config, data, result))
        mlflow.log_metrics(_finite(result.evaluation.metrics))
        mlflow.log_metrics({f"time_{k}_s": v for k, v in result.timings.items()})
        mlflow.log_input(training_dataset(data, result), context="training")
        _log_artifacts(result)
        if data.import_report is not None:  # what a real-data import dropped, per reason
            mlflow.log_text(data.import_report.to_csv(index=False), "import_report.csv")
        if result.refitted:
            with tempfile.TemporaryDirectory() as tmp:
                bundle = result.backtest.save(Path(tmp) / BACKTEST_DIR, with_context=False)
                mlflow.log_artifacts(str(bundle), BACKTEST_DIR)
        info = _log_model(result.predictor, data, tracking if register else None)
    version = ""
    if register and info.registered_model_version is not None:
        version = str(info.registered_model_version)
        _tag_version(client, tracking.registered_model, version, data, result)
        client.set_registered_model_alias(tracking.registered_model, CHALLENGER, version)
    return LoggedModel(run.info.run_id, version, info.model_uri)


def description(data: TrainingData, result: TrainResult) -> str:
    """The run's description (Markdown): what was trained on what, and how it did."""
    m, w = result.evaluation.metrics, result.windows()
    deployed = (
        f"refitted on everything known up to {w['window_deployed_train_end'][:16]}"
        if result.refitted
        else "the backtest's own model (--no-refit)"
    )
    return (
        f"Stallguard risk + ETA on `{data.source}` data `{data.fingerprint}` "
        f"({data.location}).\n\n"
        f"Backtest: trained before {w['window_calibrate_from'][:10]}, calibrated to "
        f"{w['window_evaluate_from'][:10]}, evaluated to {w['window_now'][:10]}: ROC-AUC "
        f"{m.get('risk_roc_auc', float('nan')):.3f}, ECE {m.get('risk_ece', float('nan')):.3f}, "
        f"P50 MAE {m.get('eta_p50_mae_h', float('nan')):.2f} h, P10-P90 coverage "
        f"{m.get('eta_p10_p90_coverage', float('nan')):.3f}.\n\n"
        f"Logged model: {deployed}."
    )


def training_dataset(data: TrainingData, result: TrainResult) -> MetaDataset:
    """The training data as an MLflow dataset: its directory, fingerprint and window."""
    with warnings.catch_warnings():
        # MLflow registers its local-folder source twice and warns that they are ambiguous.
        warnings.filterwarnings("ignore", message="The specified dataset source can be")
        source = resolve_dataset_source(str(data.location.resolve()))
    columns: list[ColSpec | TensorSpec] = [ColSpec("string", "shipment_id")]
    columns += [ColSpec("string", "as_of")]
    columns += [ColSpec("double", name) for name in result.predictor.feature_names]
    schema = Schema(columns)
    window = result.windows()
    name = f"{data.source} {window['window_start'][:10]}..{window['window_now'][:10]}"
    return MetaDataset(  # type: ignore[abstract]  # MLflow's own class, usable as documented
        source, name=name, digest=data.fingerprint, schema=schema
    )


def train_params(config: TrainConfig, data: TrainingData, result: TrainResult) -> dict[str, Any]:
    """Params of a run: model settings, snapshot plan, data windows, fold sizes."""
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
            "backtest_threshold": result.backtest.threshold,
            # The effective value (the config's None means "by the calibration fold's length").
            "cross_fit_blocks": result.backtest.info.get("cross_fit_blocks"),
            "n_features": len(result.predictor.feature_names),
            "engine": result.engine,
            **result.windows(),
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
    mlflow.log_dict(result.windows(), "data_window.json")
    mlflow.log_table(evaluation.slices, "slices.json")
    mlflow.log_text(evaluation.slices.to_csv(index=False), "slices.csv")
    shares = importance_by_family(result.predictor)
    mlflow.log_dict({k: float(v) for k, v in shares.items()}, "importance_by_family.json")
    threshold = result.backtest.threshold
    figures = {
        "calibration_curve.png": plots.calibration_curve(evaluation.frame),
        "pr_curve.png": plots.pr_curve(evaluation.frame, threshold),
        "roc_curve.png": plots.roc_curve_plot(evaluation.frame, threshold),
        "confusion_matrix.png": plots.confusion_at_threshold(evaluation.frame, threshold),
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
    metrics = _finite(result.evaluation.metrics)
    tags = {
        "source": data.source,
        "data_fingerprint": data.fingerprint,
        **result.windows(),
        **{k: f"{metrics[k]:.4f}" for k in HEADLINE_METRICS if k in metrics},
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


def load_backtest(tracking: TrackingConfig, version: str) -> Predictor:
    """The backtest model of a registered version (the version itself if it was not refitted).

    Raises:
        ValueError: The version is not a Stallguard model.
    """
    client = connect(tracking)
    found = client.get_model_version(tracking.registered_model, version)
    run_id = str(found.run_id)
    if BACKTEST_DIR in {Path(a.path).name for a in client.list_artifacts(run_id)}:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, BACKTEST_DIR, tmp)
            return Predictor.load(path)
    return load_predictor(f"models:/{tracking.registered_model}/{version}")


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
