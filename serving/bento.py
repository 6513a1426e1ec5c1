"""Pack a model into the BentoML store and build the Bento that serves it (offline)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from serving.model_source import BENTO_MODEL_NAME, BUNDLE_DIR, load_served_model
from training.config import TrackingConfig


def store_model(model_uri: str, tracking: TrackingConfig, context_dir: Path | None = None) -> str:
    """Copy the model at `model_uri` into the BentoML model store; return its tag.

    The predictor bundle is saved as plain files (LightGBM text and JSON, no pickle), with
    the registry identity and headline metrics next to it for `GET /model`.
    """
    import bentoml

    served = load_served_model(model_uri, tracking, context_dir)
    metadata = {"source_uri": model_uri, "registry_version": served.version or ""}
    with bentoml.models.create(
        BENTO_MODEL_NAME,
        labels={"project": "stallguard", "registry_version": served.version or "none"},
        metadata=metadata,
    ) as model:
        root = Path(model.path)
        served.predictor.save(root / BUNDLE_DIR)
        served.write_info(root)
    return str(model.tag)


def build_bento(
    model_uri: str, bentofile: Path, tracking: TrackingConfig, context_dir: Path | None = None
) -> tuple[str, str]:
    """Store the model, then build `bentofile` (its `models:` entry names `stallguard:latest`).

    Returns:
        (bento tag, model tag).

    Raises:
        FileNotFoundError: No build file.
    """
    import bentoml

    if not bentofile.exists():
        raise FileNotFoundError(f"no Bento build file at {bentofile}")
    model_tag = store_model(model_uri, tracking, context_dir)
    # Pin the Bento to exactly this model (the file says `latest`, right for a bare
    # `bentoml build` but ambiguous once the store holds several versions).
    config = yaml.safe_load(bentofile.read_text())
    config["models"] = [model_tag]
    for env in config.get("envs", []):
        if env.get("name") == "STALLGUARD_MODEL_URI":
            env["value"] = f"bentoml:{model_tag}"
    with tempfile.TemporaryDirectory() as tmp:
        pinned = Path(tmp) / "bentofile.yaml"
        pinned.write_text(yaml.safe_dump(config))
        bento = bentoml.bentos.build_bentofile(
            str(pinned), build_ctx=str(bentofile.resolve().parent)
        )
    return str(bento.tag), model_tag
