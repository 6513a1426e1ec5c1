"""Serving fixtures: a champion in its own temporary MLflow store, and request bodies."""

from __future__ import annotations

import pytest


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

    logged = log_training(trained, small_data, fast_config, serving_tracking)
    client = connect(serving_tracking)
    client.set_registered_model_alias(serving_tracking.registered_model, CHAMPION, logged.version)
    return logged


@pytest.fixture(scope="session")
def serving_env(champion, serving_tracking):
    """Environment of a service on that champion; each user adds an outbox of its own."""
    return {
        "MLFLOW_TRACKING_URI": serving_tracking.uri,
        "STALLGUARD_ARTIFACTS": serving_tracking.artifacts,
        "BENTOML_DO_NOT_TRACK": "True",
    }


@pytest.fixture(scope="session")
def in_flight(small_data):
    """(ids, as_of): parcels in flight, not yet late, three days before the data's end."""
    import pandas as pd

    from training.scoring import in_flight as flying

    now = small_data.now - pd.Timedelta(days=3)
    ships = flying(small_data.tables, now)
    return ships.loc[ships["promised_at"] > now, "shipment_id"].tolist(), now


@pytest.fixture()
def body(small_data, in_flight):
    """Request bodies: `body(n)` gives n shipments as a client sends them."""
    from cli.demo.payloads import shipment_payloads

    ids, now = in_flight

    def make(n: int, start: int = 0) -> list[dict]:
        return shipment_payloads(small_data.tables, ids[start : start + n], now)

    return make
