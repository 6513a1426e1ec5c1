"""An injected hub outage: the hub stops, its queue clears, the world records who waited.

Nothing else changes: the same world without the outage has the same hubs and other parcels.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import typer

from cli.data import hub_outage
from sources.synthetic import (
    HubOutage,
    SimulatedWorld,
    SimulationConfig,
    read_hub_outages,
    simulate,
)
from sources.synthetic.config import OperationsConfig
from sources.synthetic.world import HIDDEN_DIR

pytestmark = pytest.mark.unit

HUB = "HUB-DAEGU-YEONGNAM"
# March to mid-April: no holiday closure or rush, so the outage is the only big queue.
BASE = SimulationConfig(shipments=4_000, start=dt.date(2025, 3, 3), days=45, seed=5)
OUTAGE = HubOutage(HUB, dt.date(2025, 3, 19), 2)
STALLGUARD = Path(sys.executable).with_name("stallguard")


@pytest.fixture(scope="module")
def base() -> SimulatedWorld:
    return simulate(BASE)


@pytest.fixture(scope="module")
def hit() -> SimulatedWorld:
    return simulate(replace(BASE, hub_outages=(OUTAGE,)))


def _local(times: pd.Series, world: SimulatedWorld) -> pd.Series:
    """UTC times as naive local times (the simulator's days are local days)."""
    return times.dt.tz_convert(world.tables.locale.timezone).dt.tz_localize(None)


def _dwell(world: SimulatedWorld, hub: str) -> pd.DataFrame:
    """Every parcel's HUB_IN and HUB_OUT at `hub` (local times) and its dwell in hours."""
    ev = world.tables.scan_events
    ev = ev[ev["location_id"] == hub]
    times = {
        kind: _local(ev[ev["event_type"] == kind].set_index("shipment_id")["event_time"], world)
        for kind in ("HUB_IN", "HUB_OUT")
    }
    out = pd.DataFrame({"hub_in": times["HUB_IN"], "hub_out": times["HUB_OUT"]}).dropna()
    out["dwell_h"] = (out["hub_out"] - out["hub_in"]).dt.total_seconds() / 3600
    out["arrived_day"] = out["hub_in"].dt.normalize()
    return out


def _first_day() -> pd.Timestamp:
    return pd.Timestamp(OUTAGE.first_day)


def _after_last_day() -> pd.Timestamp:
    return pd.Timestamp(OUTAGE.last_day) + pd.Timedelta(days=1)


def test_dwell_at_the_hub_jumps_during_the_outage(base, hit):
    dwell = _dwell(hit, HUB)
    day = dwell["arrived_day"]
    week_before = dwell[(day >= _first_day() - pd.Timedelta(days=7)) & (day < _first_day())]
    during = dwell[(day >= _first_day()) & (day < _after_last_day())]
    assert len(week_before) > 50 and len(during) > 20
    assert week_before["dwell_h"].max() < 4.0
    assert during["dwell_h"].min() >= 24.0
    assert during["dwell_h"].median() > 10 * week_before["dwell_h"].median()
    # The same parcels sort within hours in the world without the outage.
    assert _dwell(base, HUB).loc[during.index, "dwell_h"].max() < 4.0


def test_the_hub_sorts_nothing_on_the_outage_days(hit):
    dwell = _dwell(hit, HUB)
    left = dwell["hub_out"]
    out_on_outage_days = dwell[(left >= _first_day()) & (left < _after_last_day())]
    # A sort started late on the evening before may end in the first hours of the outage.
    spill = _first_day() + pd.Timedelta(hours=OperationsConfig().hub_sort_hours[1])
    assert (out_on_outage_days["hub_out"] < spill).all()
    assert (out_on_outage_days["hub_in"] < _first_day()).all()
    assert (left.dt.normalize() == _first_day() - pd.Timedelta(days=1)).any()
    assert (left.dt.normalize() == _after_last_day()).any()


def test_other_hubs_are_unaffected(base, hit):
    pd.testing.assert_frame_equal(base.tables.network, hit.tables.network)

    def hub_scans(world: SimulatedWorld) -> pd.DataFrame:
        ev = world.tables.scan_events
        return ev[ev["event_type"].isin(["HUB_IN", "HUB_OUT"])]

    touched = set()
    for world in (base, hit):
        ev = world.tables.scan_events
        touched |= set(ev.loc[ev["location_id"] == HUB, "shipment_id"])
    same = [hub_scans(w) for w in (base, hit)]
    same = [s[~s["shipment_id"].isin(touched)].reset_index(drop=True) for s in same]
    assert len(same[0]) > 5_000
    pd.testing.assert_frame_equal(same[0], same[1])


def test_outage_waits_are_the_parcels_that_waited_a_day_at_the_hub(hit):
    outage = hit.hub_outages.iloc[0]
    assert outage["hub"] == HUB
    assert outage["first_day"] == _first_day()
    assert outage["last_day"] == pd.Timestamp(OUTAGE.last_day)
    assert pd.Timestamp(OUTAGE.last_day) < outage["cleared_day"] < pd.Timestamp("2025-04-01")

    dwell = _dwell(hit, HUB)
    window = dwell[
        (dwell["arrived_day"] >= outage["first_day"])
        & (dwell["arrived_day"] <= outage["cleared_day"])
    ]
    waited = window[window["dwell_h"] >= 24.0]
    waits = hit.outage_waits.set_index("shipment_id")
    assert len(waited) > 20
    assert set(waits.index) == set(waited.index)
    assert (waits["hub"] == HUB).all()
    waited = waited.loc[waits.index]
    pd.testing.assert_series_equal(
        waits["arrived_day"], waited["arrived_day"], check_names=False, check_index=False
    )
    whole_days = (waited["dwell_h"] // 24 * 24).to_numpy()
    assert (waits["wait_hours"].to_numpy() == whole_days).all()


def test_outage_waits_are_part_of_the_hub_backlog_cause(hit):
    causes = hit.hidden_causes
    backlog = causes[causes["cause"] == "HUB_BACKLOG"].set_index("shipment_id")["delay_h"]
    waits = hit.outage_waits.set_index("shipment_id")["wait_hours"]
    assert (backlog.reindex(waits.index).fillna(0.0) >= waits).all()


def test_a_world_without_outages_has_empty_outage_tables(base, tmp_path):
    assert base.hub_outages.empty and base.outage_waits.empty
    assert list(base.hub_outages.columns) == ["hub", "first_day", "last_day", "cleared_day"]
    assert list(base.outage_waits.columns) == ["shipment_id", "hub", "arrived_day", "wait_hours"]
    base.write(tmp_path / "w")
    for name in ("hub_outages", "outage_waits"):
        (tmp_path / "w" / HIDDEN_DIR / f"{name}.parquet").unlink()  # a world from before outages
    outages, waits = read_hub_outages(tmp_path / "w")
    pd.testing.assert_frame_equal(outages, base.hub_outages)
    pd.testing.assert_frame_equal(waits, base.outage_waits)


def test_written_outages_read_back_identically(hit, tmp_path):
    hit.write(tmp_path / "w")
    outages, waits = read_hub_outages(tmp_path / "w")
    pd.testing.assert_frame_equal(outages, hit.hub_outages)
    pd.testing.assert_frame_equal(waits, hit.outage_waits)


@pytest.mark.parametrize(
    ("outage", "message"),
    [
        (lambda: HubOutage("HUB-NOWHERE", dt.date(2025, 3, 19), 2), "HUB-NOWHERE.*HUB-DAEJEON"),
        (lambda: HubOutage(HUB, dt.date(2025, 3, 19), 0), f"{HUB}.*at least 1 day"),
        (
            lambda: replace(BASE, hub_outages=(HubOutage(HUB, dt.date(2025, 3, 1), 3),)),
            f"{HUB}:2025-03-01:3.*inside the world",
        ),
        (
            lambda: replace(BASE, hub_outages=(HubOutage(HUB, dt.date(2025, 4, 16), 2),)),
            f"{HUB}:2025-04-16:2.*inside the world",
        ),
    ],
    ids=["unknown hub", "no days", "before the world", "after the world"],
)
def test_bad_outages_are_rejected_naming_the_hub(outage, message):
    with pytest.raises(ValueError, match=message):
        outage()


def test_an_outage_on_the_last_day_is_accepted():
    config = replace(BASE, hub_outages=(HubOutage(HUB, dt.date(2025, 4, 16), 1),))
    assert config.hub_outages[0].last_day == config.last_day


def test_the_cli_parses_an_outage():
    assert hub_outage(f"{HUB}:2025-03-19:2") == OUTAGE
    assert str(OUTAGE) == f"{HUB}:2025-03-19:2"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (f"{HUB}:2025-03-19", "HUB:YYYY-MM-DD:DAYS"),
        ("HUB-X:2025-03-19:2", "HUB-X"),
        (f"{HUB}:2025-02-30:2", "'2025-02-30'"),
        (f"{HUB}:2025-03-19:two", "'two'"),
        (f"{HUB}:2025-03-19:0", "at least 1 day"),
    ],
)
def test_the_cli_rejects_a_bad_outage_naming_the_bad_part(text, named):
    with pytest.raises(typer.BadParameter, match=named):
        hub_outage(text)


def _simulate(tmp_path: Path, *outages: str) -> subprocess.CompletedProcess[str]:
    args = ["--shipments", "1500", "--days", "21", "--start", "2025-03-03", "--seed", "5"]
    flags = [part for o in outages for part in ("--hub-outage", o)]
    return subprocess.run(
        [str(STALLGUARD), "simulate", *args, *flags, "--out", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "250"},
    )


@pytest.mark.cli
def test_simulate_injects_repeated_outages(tmp_path):
    done = _simulate(tmp_path, f"{HUB}:2025-03-10:2", "HUB-YONGIN-CAPITAL:2025-03-12:1")
    assert done.returncode == 0, done.stderr
    assert "Injected hub outages" in done.stdout
    outages, waits = read_hub_outages(tmp_path / "w")
    assert outages["hub"].tolist() == [HUB, "HUB-YONGIN-CAPITAL"]
    assert outages["first_day"].tolist() == [pd.Timestamp("2025-03-10"), pd.Timestamp("2025-03-12")]
    assert set(waits["hub"]) == {HUB, "HUB-YONGIN-CAPITAL"}


@pytest.mark.cli
@pytest.mark.parametrize(
    ("text", "named"),
    [(f"{HUB}:2025-03-10", "HUB:YYYY-MM-DD:DAYS"), (f"{HUB}:2025-03-30:2", "inside the world")],
)
def test_simulate_rejects_a_bad_outage(tmp_path, text, named):
    done = _simulate(tmp_path, text)
    assert done.returncode == 2
    assert "--hub-outage" in done.stderr and named in done.stderr
    assert not (tmp_path / "w").exists()
