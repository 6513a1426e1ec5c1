"""Shared fixtures: small simulated worlds, made once per test session (per xdist worker)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path

import pytest

from sources.synthetic import SimulatedWorld, SimulationConfig, simulate

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Six months (July-December 2025) at 60k parcels: large enough for stable calibration rates,
# small enough to build in a few seconds. The 13-month default world is checked by hand
# (docs/simulator.md): a year holds more regional stoppages, so its rates vary more by seed.
CALIBRATION_CONFIG = SimulationConfig(
    shipments=60_000, start=dt.date(2025, 7, 1), days=180, seed=11
)


@pytest.fixture(scope="session", autouse=True)
def _tree_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled trees of this session's models go to a temporary folder (services started by
    the tests inherit it), not to the user's cache."""
    os.environ["STALLGUARD_TREE_CACHE"] = str(tmp_path_factory.mktemp("trees"))


@pytest.fixture(scope="session")
def world_config() -> SimulationConfig:
    """The configuration of the `world` fixture."""
    return CALIBRATION_CONFIG


@pytest.fixture(scope="session")
def world(world_config: SimulationConfig) -> SimulatedWorld:
    """The calibration world: 6 months at 60k parcels (docs/simulator.md)."""
    return simulate(world_config)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data folder; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


# --- Model lifecycle: one small world, one trained model, one temporary MLflow store ---------

# July-August: a two-month world through the Chuseok rush leaves its calibration fold in the
# rush and its evaluation after it, which even the full recipe cannot calibrate.
SMALL_WORLD = SimulationConfig(shipments=8_000, start=dt.date(2025, 7, 1), days=60, seed=3)


@pytest.fixture(scope="session")
def small_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated world written as a Tables directory (with its hidden causes)."""
    root = tmp_path_factory.mktemp("small_world")
    simulate(SMALL_WORLD).write(root)
    return root


@pytest.fixture(scope="session")
def small_data(small_world_dir: Path):
    from training.sources import load_data

    return load_data("synthetic", small_world_dir)


@pytest.fixture(scope="session")
def fast_config():
    """Training settings small enough for tests (a few seconds), same code path."""
    from training.config import TrainConfig
    from training.models import BoosterParams

    # One thread: two xdist workers on two cores, each with LightGBM on all cores, contend.
    params = BoosterParams(n_rounds=80, num_leaves=31, min_child_samples=50, threads=1)
    # Rolling recalibration is off by default (docs/model.md); the tests exercise it. The
    # two-month world's calibration fold is short enough to be cross-fitted by default; the
    # tests keep the calibration fold (test_refit.py cross-fits on purpose).
    return TrainConfig(
        params=params,
        eta_params=params,
        eta_max_rows=40_000,
        recalibration_days=21.0,
        cross_fit_blocks=0,
    )


@pytest.fixture(scope="session")
def trained(small_data, fast_config):
    from training.train import train

    return train(small_data, fast_config)


@pytest.fixture(scope="session")
def tracking(tmp_path_factory: pytest.TempPathFactory):
    """A temporary SQLite tracking store and artifact folder."""
    from training.config import TrackingConfig

    root = tmp_path_factory.mktemp("mlflow")
    return TrackingConfig(uri=f"sqlite:///{root / 'mlflow.db'}", artifacts=str(root / "art"))


@pytest.fixture(scope="session")
def registered(trained, small_data, fast_config, tracking):
    """The trained model logged and registered (version 1, alias challenger)."""
    from training.tracking import log_training

    with mlflow_env_kept():
        return log_training(trained, small_data, fast_config, tracking)


# --- PostgreSQL: a throwaway server per test session (tests/support/postgres.py) ------------


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a PostgreSQL server's admin database; skips when none can be started."""
    from support.postgres import postgres_server

    with postgres_server() as url:
        if url is None:
            pytest.skip(
                "no PostgreSQL: install it (apt-get install postgresql; .ci/run does) or set "
                "STALLGUARD_TEST_POSTGRES_URL"
            )
        yield url


@pytest.fixture()
def postgres_db(postgres_url):
    """URL of a fresh, empty database on that server (dropped afterwards)."""
    import uuid

    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


# --- The served champion: its own temporary MLflow store (serving and browser tests) -------


@pytest.fixture(scope="session")
def serving_tracking(tmp_path_factory: pytest.TempPathFactory):
    """A registry of its own, so promotion tests elsewhere cannot move this champion."""
    from training.config import TrackingConfig

    root = tmp_path_factory.mktemp("serving_mlflow")
    return TrackingConfig(uri=f"sqlite:///{root / 'mlflow.db'}", artifacts=str(root / "art"))


@pytest.fixture(scope="session")
def champion(trained, small_data, fast_config, serving_tracking):
    """The small world's model, registered and made champion (version 1)."""
    from training.config import CHAMPION
    from training.tracking import connect, log_training

    with mlflow_env_kept():
        logged = log_training(trained, small_data, fast_config, serving_tracking)
        client = connect(serving_tracking)
        name = serving_tracking.registered_model
        client.set_registered_model_alias(name, CHAMPION, logged.version)
    return logged


@pytest.fixture(scope="session")
def serving_env(champion, serving_tracking):
    """Environment of a service on that champion; each user adds an outbox of its own."""
    return {
        "MLFLOW_TRACKING_URI": serving_tracking.uri,
        "STALLGUARD_ARTIFACTS": serving_tracking.artifacts,
        "BENTOML_DO_NOT_TRACK": "True",
    }


# --- MLflow's URIs stay out of the environment the commands under test inherit ---------------

MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextlib.contextmanager
def mlflow_env_kept():
    """Undo what `mlflow.set_tracking_uri` / `set_registry_uri` write into os.environ.

    They export the URIs, so a command a later test starts with `{**os.environ, ...}` would
    read another test's registry (MLFLOW_REGISTRY_URI wins over the test's tracking URI).
    """
    saved = {name: os.environ.get(name) for name in MLFLOW_ENV}
    try:
        yield
    finally:
        _restore(saved)


_SESSION_MLFLOW_ENV = {name: os.environ.get(name) for name in MLFLOW_ENV}


@pytest.fixture(autouse=True)
def _mlflow_env_restored():
    """Every test runs, and ends, with MLflow's URIs in os.environ as the session began.

    Fixtures of wider scope that talk to MLflow (a registry, a served model) are set up before
    this one, so what they exported is undone here, before the test's own commands start.
    """
    _restore(_SESSION_MLFLOW_ENV)
    yield
    _restore(_SESSION_MLFLOW_ENV)


def _restore(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
