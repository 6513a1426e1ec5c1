"""The watcher's mirror reads what the store's SQL read gives, through ingests of every kind."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from contract.tables import Tables
from serving.watch.ingest import ingest_tables
from serving.watch.mirror import StoreMirror
from serving.watch.store import StateStore

pytestmark = pytest.mark.serving

KEYS = {
    "shipments": ["shipment_id"],
    "scan_events": ["shipment_id", "event_time", "event_type"],
    "address_quality": ["shipment_id"],
    "weather_daily": ["region", "date"],
    "weather_forecast": ["region", "issued_date", "target_date"],
    "network": ["location_id"],
}


def assert_same_tables(got: Tables, want: Tables) -> None:
    """Equal tables, rows in any order (a pass's results do not depend on it)."""
    for name, keys in KEYS.items():
        a = getattr(got, name).sort_values(keys, kind="stable").reset_index(drop=True)
        b = getattr(want, name).sort_values(keys, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, obj=name)


def stage(tables: Tables, before: pd.Timestamp, until: pd.Timestamp) -> Tables:
    """What arrives between two times: parcels created (outcome unknown) and their scans."""
    ships = tables.shipments
    new = ships[(ships["created_at"] > before) & (ships["created_at"] <= until)]
    events = tables.scan_events
    scans = events[(events["event_time"] > before) & (events["event_time"] <= until)]
    return tables.replace(
        shipments=new.assign(delivered_at=pd.NaT, final_status=None), scan_events=scans
    )


@pytest.fixture
def world(small_data, tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}", "key", small_data.tables.locale)
    yield store, small_data.tables, small_data.now
    store.close()


def test_the_mirror_reads_what_the_store_reads_through_every_kind_of_ingest(world):
    store, tables, now = world
    rng = np.random.default_rng(5)
    start = now - pd.Timedelta(days=20)
    ingest_tables(store, stage(tables, pd.Timestamp.min.tz_localize("UTC"), start))
    mirror = StoreMirror(store)
    assert_same_tables(mirror.tables(start), store.tables(start))
    assert mirror.earliest_change() is not None  # a first load: everything is new
    held_back = tables.scan_events.iloc[:0]
    when = start
    for step in range(6):
        later = when + pd.Timedelta(hours=int(rng.integers(1, 30)))
        arriving = stage(tables, when, later)
        # Some scans arrive late, a pass or two after their time.
        late = rng.random(len(arriving.scan_events)) < 0.05
        ingest_tables(
            store,
            arriving.replace(
                scan_events=pd.concat([arriving.scan_events[~late], held_back]),
                weather_daily=tables.weather_daily.iloc[:0],
                weather_forecast=tables.weather_forecast.iloc[:0],
            ),
        )
        held_back = arriving.scan_events[late]
        if step == 3:
            # Promises move, and an outcome is corrected away, on parcels of days ago.
            stored = store.tables(later).shipments
            done = stored[stored["delivered_at"].notna()].head(20)
            moved = done.assign(
                promised_at=done["promised_at"] + pd.Timedelta(days=1),
                delivered_at=pd.NaT,
                final_status=None,
                dest_address=tables.shipments.set_index("shipment_id")
                .loc[done["shipment_id"], "dest_address"]
                .to_numpy(),
            )
            store.put_shipments(moved, dt.datetime.now(dt.UTC))
        assert_same_tables(mirror.tables(later), store.tables(later))
        when = later
    # A pass back in time (a re-run) reloads rather than reading evicted rows.
    earlier = start + pd.Timedelta(hours=5)
    assert_same_tables(mirror.tables(earlier), store.tables(earlier))


def test_passes_months_on_drop_old_delivered_parcels_and_still_agree(world):
    store, tables, now = world
    ingest_tables(store, tables)
    mirror = StoreMirror(store)
    late = now + pd.Timedelta(days=60)  # the world's first weeks fall out of the horizon
    assert_same_tables(mirror.tables(now), store.tables(now))
    held = mirror.rows
    assert_same_tables(mirror.tables(late), store.tables(late))
    assert mirror.rows[0] < held[0] and mirror.rows[1] < held[1]
    assert mirror.rows[0] == len(store.tables(late).shipments)


def test_how_far_back_the_changes_reach(world):
    store, tables, now = world
    start = now - pd.Timedelta(days=10)
    ingest_tables(store, stage(tables, pd.Timestamp.min.tz_localize("UTC"), start))
    mirror = StoreMirror(store)
    mirror.tables(start)
    mirror.earliest_change()
    assert mirror.earliest_change() is None  # nothing since the last call
    mirror.tables(start + pd.Timedelta(hours=1))
    assert mirror.earliest_change() is None  # nothing was ingested
    nxt = stage(tables, start, start + pd.Timedelta(hours=6))
    store.put_shipments(nxt.shipments, dt.datetime.now(dt.UTC))
    store.put_events(nxt.scan_events, dt.datetime.now(dt.UTC))
    mirror.tables(start + pd.Timedelta(hours=6))
    reach = mirror.earliest_change()
    first = min(nxt.scan_events["event_time"].min(), nxt.shipments["created_at"].min())
    assert reach == first and reach > start
    # A scan of two days ago (a late one) reaches back two days; one promise moved, to
    # the parcel's creation.
    some = tables.scan_events[tables.scan_events["event_time"] <= start].iloc[[10]]
    two_days = some.assign(event_time=some["event_time"] - pd.Timedelta(days=2))
    store.put_events(two_days, dt.datetime.now(dt.UTC))
    mirror.tables(start + pd.Timedelta(hours=7))
    assert mirror.earliest_change() == two_days["event_time"].iloc[0]
    parcel = tables.shipments[tables.shipments["created_at"] <= start].iloc[[3]]
    moved = parcel.assign(promised_at=parcel["promised_at"] + pd.Timedelta(days=1))
    store.put_shipments(
        moved.assign(delivered_at=pd.NaT, final_status=None), dt.datetime.now(dt.UTC)
    )
    mirror.tables(start + pd.Timedelta(hours=8))
    assert mirror.earliest_change() == parcel["created_at"].iloc[0]
