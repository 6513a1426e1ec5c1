"""Find and load the model the service serves: MLflow registry, a Bento model, or a folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.context import Context
from training.config import TrackingConfig
from training.predictor import Predictor
from training.recalibration import Recalibration

HEADLINE_METRICS = (
    "risk_roc_auc",
    "risk_pr_auc",
    "risk_brier",
    "risk_ece",
    "eta_p50_mae_h",
    "eta_p10_p90_coverage",
    "early_warning_recall_12h",
    "early_warning_precision",
    "baseline_promise_eta_mae_h",
    "reason_agreement",
)
BENTO_MODEL_NAME = "stallguard"
BUNDLE_DIR = "bundle"
INFO_FILE = "served_model.json"


class ModelNotFound(RuntimeError):
    """No model where the settings point; the message says how to make one."""


@dataclass
class ServedModel:
    """The predictor and what it is (for `GET /model` and `model_version`)."""

    predictor: Predictor
    uri: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    loaded_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))

    @property
    def label(self) -> str:
        """What `model_version` says in answers: `stallguard/3`, or the run or folder."""
        if self.name and self.version:
            return f"{self.name}/{self.version}"
        return self.run_id or self.uri

    def describe(self) -> dict[str, Any]:
        """Registry identity, window and headline metrics, as JSON-ready values."""
        info = self.predictor.info
        window = {
            k.removeprefix("window_"): str(v) for k, v in info.items() if k.startswith("window_")
        }
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "source": info.get("source"),
            "window": window,
            "metrics": self.metrics,
            "threshold": float(self.predictor.threshold),
        }

    def write_info(self, path: Path) -> None:
        """Save the identity next to a bundle (used by `stallguard bento`)."""
        keep: dict[str, Any] = {"uri": self.uri, "name": self.name, "version": self.version}
        keep |= {"run_id": self.run_id, "metrics": self.metrics}
        (path / INFO_FILE).write_text(json.dumps(keep, indent=1))


def load_served_model(
    uri: str, tracking: TrackingConfig, context_dir: Path | None = None
) -> ServedModel:
    """Load the model at `uri` (see `Settings.model_uri` for the forms).

    Args:
        uri: Where the model is.
        tracking: The MLflow store of `models:/` and `runs:/` URIs.
        context_dir: A fresher serving context than the bundled one.

    Raises:
        ModelNotFound: Nothing is there; the message names the URI, the store and the fix.
    """
    if uri.startswith("bentoml:"):
        served = _from_bento(uri.removeprefix("bentoml:"))
    elif uri.startswith(("models:/", "runs:/")):
        served = _from_mlflow(uri, tracking, context_dir)
    else:
        served = _from_folder(Path(uri))
    if context_dir is not None and not uri.startswith(("models:/", "runs:/")):
        _use_context(served.predictor, context_dir)
    return served


def _from_mlflow(uri: str, tracking: TrackingConfig, context_dir: Path | None) -> ServedModel:
    import mlflow
    from mlflow import MlflowClient

    from training.tracking import connect, load_predictor

    client: MlflowClient = connect(tracking)
    name = version = run_id = None
    if uri.startswith("models:/"):
        name, _, ref = uri.removeprefix("models:/").partition("@")
        try:
            if ref:
                found = client.get_model_version_by_alias(name, ref)
            else:
                name, _, number = name.partition("/")
                found = client.get_model_version(name, number)
        except mlflow.exceptions.MlflowException as err:
            raise ModelNotFound(
                f"no model at {uri} in {tracking.uri} ({err.message.rstrip('.')}). "
                "Train and promote one first: make train (or set STALLGUARD_MODEL_URI)"
            ) from err
        version, run_id = str(found.version), found.run_id
    else:
        run_id = uri.removeprefix("runs:/").split("/")[0]
    predictor = load_predictor(uri, context_dir)
    metrics = client.get_run(run_id).data.metrics if run_id else {}
    headline = {k: float(metrics[k]) for k in HEADLINE_METRICS if k in metrics}
    return ServedModel(predictor, uri, name, version, run_id, headline)


def _from_bento(tag: str) -> ServedModel:
    import bentoml

    try:
        model = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound as err:
        raise ModelNotFound(f"no BentoML model {tag!r}: build one with `stallguard bento`") from err
    return _from_folder(Path(model.path))


def _from_folder(root: Path) -> ServedModel:
    bundle = root / BUNDLE_DIR if (root / BUNDLE_DIR).exists() else root
    try:
        predictor = Predictor.load(bundle)
    except FileNotFoundError as err:
        raise ModelNotFound(f"{err}; set STALLGUARD_MODEL_URI to a model") from err
    info: dict[str, Any] = {}
    if (root / INFO_FILE).exists():
        info = json.loads((root / INFO_FILE).read_text())
    return ServedModel(
        predictor,
        info.get("uri", str(root)),
        info.get("name"),
        info.get("version"),
        info.get("run_id"),
        info.get("metrics", {}),
    )


def _use_context(predictor: Predictor, context_dir: Path) -> None:
    """A fresher context, and its recalibration when it was fitted for this model."""
    predictor.context = Context.read(context_dir)
    predictor.use_recalibration(Recalibration.read(context_dir))
