"""Model fixtures: the folds training used, and a registry of our own on a temporary SQLite store.

The small world (`small_world_dir`, `small_data`), its training settings (`fast_config`) and the
trained model (`trained`) are session fixtures of tests/conftest.py, shared with the other
model tests so the world is simulated and the model trained once per session. The fixtures
here have their own names so that they never shadow those: the lifecycle tests promote and roll
back, so they get a registry nobody else writes to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

@dataclass(frozen=True)
class Folds:
    """The snapshots `training.train.train` learned from, rebuilt the same way.

    Attributes:
        snapshots: shipment_id, as_of, stage (the capped sample train() kept).
        x: Their features, in the model's column order.
        late: The risk label.
        remaining_h: The ETA label (NaN where the delivery is not known).
        train, calibrate, evaluate: Boolean masks of the three folds.
        calibrate_eta: Calibration rows with an ETA label (what the conformal step used).
    """

    snapshots: pd.DataFrame
    x: pd.DataFrame
    late: np.ndarray
    remaining_h: np.ndarray
    train: np.ndarray
    calibrate: np.ndarray
    evaluate: np.ndarray
    calibrate_eta: np.ndarray


@pytest.fixture(scope="session")
def folds(small_data, fast_config, trained) -> Folds:
    """Snapshots, features and labels of every fold, exactly as train() built them."""
    from features.build import build_features
    from training.dataset import labels, sample_snapshots

    assert fast_config.max_train_snapshots == 0, "train() would have sub-sampled the train fold"
    ships = small_data.tables.shipments
    snaps = sample_snapshots(small_data.tables, small_data.now, fast_config.plan)
    split = trained.window.split(snaps, ships)
    keep = split.train | split.calibrate | split.evaluate
    snaps = snaps[keep].reset_index(drop=True)
    split = trained.window.split(snaps, ships)
    lab = labels(snaps, ships, small_data.now)
    x = build_features(small_data.tables, snaps)[fast_config.feature_names]
    return Folds(
        snapshots=snaps,
        x=x,
        late=lab["late"].to_numpy(dtype=float),
        remaining_h=lab["remaining_h"].to_numpy(dtype=float),
        train=np.asarray(split.train),
        calibrate=np.asarray(split.calibrate),
        evaluate=np.asarray(split.evaluate),
        calibrate_eta=np.asarray(split.calibrate_eta),
    )


@pytest.fixture(scope="session")
def lifecycle_tracking(tmp_path_factory: pytest.TempPathFactory):
    """A temporary SQLite tracking store and artifact folder for the lifecycle tests only."""
    from training.config import TrackingConfig

    root: Path = tmp_path_factory.mktemp("lifecycle_mlflow")
    return TrackingConfig(uri=f"sqlite:///{root / 'mlflow.db'}", artifacts=str(root / "art"))


@pytest.fixture(scope="session")
def challenger_v1(trained, small_data, fast_config, lifecycle_tracking):
    """The shared trained model, logged and registered in the lifecycle store (v1, challenger)."""
    from training.tracking import log_training

    return log_training(trained, small_data, fast_config, lifecycle_tracking)
