"""Training data: snapshots only while in flight, contract labels, time splits with no leakage."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sources.synthetic import SimulationConfig, simulate
from training.dataset import SnapshotPlan, default_boundaries, labels, sample_snapshots, time_split

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def world():
    return simulate(SimulationConfig(shipments=3_000, start=dt.date(2025, 9, 1), days=40, seed=8))


@pytest.fixture(scope="module")
def snaps(world):
    return sample_snapshots(world.tables, now=world.end)


def test_snapshots_are_in_flight_only(world, snaps):
    ships = world.tables.shipments.set_index("shipment_id")
    created = snaps["shipment_id"].map(ships["created_at"])
    delivered = snaps["shipment_id"].map(ships["delivered_at"])
    assert (snaps["as_of"] >= created).all()
    assert (snaps["as_of"] < delivered.fillna(world.end)).all()
    assert (snaps["as_of"] < world.end).all()
    assert set(snaps["shipment_id"]) == set(ships.index)


def test_creation_every_scan_and_regular_snapshots(world, snaps):
    counts = snaps["stage"].value_counts()
    assert counts["CREATED"] == len(world.tables.shipments)
    assert counts["IN_FLIGHT"] > 0 and counts["HUB_IN"] > 0
    one = snaps[snaps["shipment_id"] == snaps["shipment_id"].iloc[0]]
    regular = one[one["stage"] == "IN_FLIGHT"]["as_of"]
    assert (regular.diff().dropna() == pd.Timedelta(hours=6)).all()
    assert one["as_of"].is_monotonic_increasing


def test_the_cap_keeps_scans_first(world):
    capped = sample_snapshots(
        world.tables, now=world.end, plan=SnapshotPlan(every_hours=1, max_per_shipment=8)
    )
    sizes = capped.groupby("shipment_id").size()
    scans = capped[capped["stage"] != "IN_FLIGHT"].groupby("shipment_id").size()
    assert (sizes <= np.maximum(8, scans.reindex(sizes.index).fillna(0))).all()
    assert capped["stage"].eq("CREATED").sum() == len(world.tables.shipments)


def test_labels_follow_the_contract(world, snaps):
    lab = labels(snaps, world.tables.shipments)
    ships = world.tables.shipments.set_index("shipment_id")
    row = snaps.index[lab["known"] & ~np.isnan(lab["remaining_h"])][0]
    sid, as_of = snaps.loc[row, "shipment_id"], snaps.loc[row, "as_of"]
    expected = (ships.loc[sid, "delivered_at"] - as_of) / pd.Timedelta(hours=1)
    assert lab.loc[row, "remaining_h"] == pytest.approx(expected)
    assert lab.loc[row, "late"] == (ships.loc[sid, "delivered_at"] > ships.loc[sid, "promised_at"])
    assert (lab.loc[lab["known"], "remaining_h"].dropna() > 0).all()
    returned = snaps["shipment_id"].map(ships["final_status"]) == "RETURNED"
    assert lab.loc[returned.to_numpy(), "late"].all()


def test_time_split_is_ordered_disjoint_and_purged(world, snaps):
    ships = world.tables.shipments
    cal, ev = default_boundaries(ships, world.end)
    split = time_split(snaps, ships, cal, ev, world.end)
    assert not (split.train & split.calibrate).any()
    assert not (split.calibrate & split.evaluate).any()
    assert not (split.train & split.evaluate).any()
    assert split.train.sum() and split.calibrate.sum() and split.evaluate.sum()
    by = ships.set_index("shipment_id")
    created = snaps["shipment_id"].map(by["created_at"])
    delivered = snaps["shipment_id"].map(by["delivered_at"])
    promised = snaps["shipment_id"].map(by["promised_at"])
    assert created[split.train].max() < created[split.calibrate].min()
    assert created[split.calibrate].max() < created[split.evaluate].min()
    # The late flag is settled at delivery (on time) or at the promise (late).
    settled = delivered.where(delivered <= promised, promised)
    assert (settled[split.train] < cal).all(), "no training label from the future"
    assert (settled[split.calibrate] < ev).all()
    # ETA labels need the delivery itself inside the fold's past.
    assert (delivered[split.train_eta] < cal).all()
    assert (delivered[split.calibrate_eta] < ev).all()
    assert not (split.train_eta & ~split.train).any()
    # Late parcels delivered after the boundary keep their (already known) late flag.
    assert (split.train & (delivered >= cal).to_numpy()).any()


def test_overdue_parcels_in_flight_are_known_late(world, snaps):
    ships = world.tables.shipments.set_index("shipment_id")
    now = world.end
    lab = labels(snaps, world.tables.shipments, now=now)
    delivered = snaps["shipment_id"].map(ships["delivered_at"])
    promised = snaps["shipment_id"].map(ships["promised_at"])
    overdue = (delivered.isna() & (promised < now)).to_numpy()
    assert overdue.any()
    assert lab.loc[overdue, "late"].all() and lab.loc[overdue, "known"].all()
    assert lab.loc[overdue, "remaining_h"].isna().all()
    pending = (delivered.isna() & (promised >= now)).to_numpy()
    assert not lab.loc[pending, "known"].any()


def test_boundaries_out_of_order_are_refused(world, snaps):
    ships = world.tables.shipments
    with pytest.raises(ValueError, match="calibrate_from < evaluate_from"):
        time_split(snaps, ships, world.end, world.end - pd.Timedelta(days=1), world.end)
