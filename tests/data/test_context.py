"""Serving reads a context built once; its features equal the training (batch) features."""

import datetime as dt

import pandas as pd
import pytest

from features.build import build_features
from features.context import Context, build_context
from sources.synthetic import SimulationConfig, simulate

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def world():
    return simulate(SimulationConfig(shipments=5_000, start=dt.date(2025, 10, 20), days=40, seed=6))


def test_serving_features_equal_batch_features(world, tmp_path):
    tables = world.tables
    now = world.end - pd.Timedelta(hours=5.5)
    in_flight = tables.shipments[
        (tables.shipments["created_at"] < now)
        & ~(tables.shipments["delivered_at"] <= now).fillna(False)
    ].head(200)
    snaps = pd.DataFrame({"shipment_id": in_flight["shipment_id"], "as_of": now})
    batch = build_features(tables, snaps)  # training path: context over all history

    build_context(tables, as_of=now).write(tmp_path / "ctx")  # `stallguard context --as-of now`
    context = Context.read(tmp_path / "ctx")
    ids = set(in_flight["shipment_id"])
    request = tables.replace(  # what a /predict request carries: the parcels and their scans so far
        shipments=in_flight.drop(columns=["delivered_at", "final_status"]).assign(
            delivered_at=pd.NaT, final_status=None
        ),
        scan_events=tables.scan_events[
            tables.scan_events["shipment_id"].isin(ids) & (tables.scan_events["event_time"] <= now)
        ],
    )
    served = build_features(request, snaps, context=context)
    pd.testing.assert_frame_equal(served, batch, check_categorical=False)
    assert served["hist_lane_n"].gt(0).mean() > 0.5
    assert served["hub_current_on_hand_ratio"].notna().mean() > 0.9


def test_reading_a_missing_context_says_how_to_build_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="stallguard context"):
        Context.read(tmp_path)
