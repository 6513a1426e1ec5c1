"""Point-in-time rule: changing anything after as_of never changes a feature (docs/features.md)."""

import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from contract.tables import Tables
from features.build import build_features
from sources.synthetic import SimulationConfig, simulate

pytestmark = pytest.mark.data

KST = pd.Timedelta(hours=9)


def _hours(values: np.ndarray) -> pd.TimedeltaIndex:
    """Durations in whole microseconds, the contract's resolution."""
    return pd.to_timedelta(np.round(np.asarray(values) * 3.6e9).astype("int64"), unit="us")


@pytest.fixture(scope="module")
def small_world():
    return simulate(SimulationConfig(shipments=6_000, start=dt.date(2025, 9, 1), days=60, seed=4))


def _snapshots(tables: Tables, cut: pd.Timestamp, n: int, seed: int) -> pd.DataFrame:
    """Snapshots of parcels created before `cut`, at random times between creation and `cut`."""
    rng = np.random.default_rng(seed)
    ships = tables.shipments[tables.shipments["created_at"] < cut].sample(n, random_state=seed)
    span = (cut - ships["created_at"]).dt.total_seconds().to_numpy()
    as_of = ships["created_at"] + _hours(rng.uniform(0, 1, n) * span / 3600)
    # Some snapshots exactly at the cut and exactly on an event time: the boundaries that leak.
    as_of.iloc[:20] = cut
    return pd.DataFrame({"shipment_id": ships["shipment_id"].to_numpy(), "as_of": as_of.to_numpy()})


def _rewrite_future(tables: Tables, cut: pd.Timestamp, seed: int) -> Tables:
    """Drop, move and invent everything after `cut`; scramble outcomes and later weather."""
    rng = np.random.default_rng(seed)
    ev = tables.scan_events
    future = ev["event_time"] > cut
    kept_future = ev[future].sample(frac=0.5, random_state=seed)
    kept_future = kept_future.assign(
        event_time=kept_future["event_time"] + _hours(rng.uniform(-0.9, 30, len(kept_future)))
    )
    kept_future = kept_future[kept_future["event_time"] > cut]
    invented = (
        ev[~future]
        .sample(2_000, random_state=seed)
        .assign(
            event_time=cut + _hours(rng.uniform(0.001, 200, 2_000)),
            event_type="DELIVERY_FAILED",
        )
    )
    events = pd.concat([ev[~future], kept_future, invented], ignore_index=True)

    ships = tables.shipments.copy()
    later = ~(ships["delivered_at"] <= cut).fillna(False).to_numpy(dtype=bool)
    ships.loc[later, "delivered_at"] = cut + _hours(rng.uniform(0, 300, later.sum()))
    ships.loc[later, "final_status"] = "DELIVERED"

    local_cut_day = (cut + KST).tz_localize(None).normalize()
    wd = tables.weather_daily.copy()
    wd.loc[wd["date"] >= local_cut_day, "precip_mm"] = 250.0
    wd.loc[wd["date"] >= local_cut_day, "snow"] = True
    wf = tables.weather_forecast.copy()
    wf.loc[wf["issued_date"] > local_cut_day, "precip_mm"] = 999.0
    return tables.replace(
        shipments=ships, scan_events=events, weather_daily=wd, weather_forecast=wf
    )


@pytest.mark.parametrize("day,seed", [(20, 1), (35, 2), (52, 3)])
def test_features_ignore_everything_after_as_of(small_world, day, seed):
    tables = small_world.tables
    cut = pd.Timestamp("2025-09-01", tz="UTC") - KST + pd.Timedelta(days=day, hours=13.37)
    snaps = _snapshots(tables, cut, 1_500, seed)
    before = build_features(tables, snaps)
    after = build_features(_rewrite_future(tables, cut, seed), snaps)
    pd.testing.assert_frame_equal(before, after, check_categorical=False)
    # The rewrite did change the future: features of a later time would differ.
    later = snaps.assign(as_of=snaps["as_of"] + pd.Timedelta(days=3))
    assert not build_features(tables, later).equals(
        build_features(_rewrite_future(tables, cut, seed), later)
    )


def test_hidden_causes_cannot_be_reached_from_build():
    code = (
        "import sys, features.build\n"
        "bad = [m for m in sys.modules if m.startswith('sources')]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
