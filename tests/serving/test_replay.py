"""Replay: a world cut in time sends nothing early and everything once; in process, the last
pass scores exactly what batch scoring gives on what was known then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from serving.alerts import AlertPolicy, AlertStore
from serving.messages import MessageBook
from serving.watch.replay import Replay, run_replay
from serving.watch.store import StateStore
from serving.watch.targets import LocalTarget
from serving.watch.watcher import Watcher
from training.scoring import score

pytestmark = pytest.mark.serving

EVERY = pd.Timedelta(hours=3)


@pytest.fixture(scope="module")
def replay(small_data) -> Replay:
    start = small_data.now - pd.Timedelta(days=4)
    return Replay(small_data.tables, start, 2, EVERY, history_days=20)


def test_nothing_is_sent_before_it_happened(replay):
    history = replay.history()
    assert (history.shipments["created_at"] <= replay.start).all()
    assert history.shipments["delivered_at"].isna().all()  # outcomes come with the scans
    assert set(history.shipments["final_status"].dropna()) <= {"RETURNED", "CANCELED", "LOST"}
    assert (history.events["event_time"] <= replay.start).all()
    steps = list(replay.live())
    assert len(steps) == replay.steps == 16
    for step in steps:
        batch = step.batch
        assert step.end - step.start <= EVERY
        new = batch.shipments[batch.shipments["final_status"].isna()]
        assert ((new["created_at"] > step.start) & (new["created_at"] <= step.end)).all()
        assert batch.shipments["delivered_at"].isna().all()
        times = batch.events["event_time"]
        assert ((times > step.start) & (times <= step.end)).all()
        assert times.is_monotonic_increasing
    local = replay.tables.locale.timezone
    for step in steps:
        # A day's observation is sent once that local day is over; a forecast on its issue day.
        days = pd.to_datetime(step.batch.observations["date"]).dt.tz_localize(local)
        assert (days + pd.Timedelta(days=1) <= step.end).all()
        issued = pd.to_datetime(step.batch.forecasts["issued_date"]).dt.tz_localize(local)
        assert (issued <= step.end).all()


def test_every_parcel_and_scan_of_the_window_is_sent_once(replay, small_data):
    batches = [replay.history(), *(s.batch for s in replay.live())]
    ships = pd.concat([b.shipments for b in batches])
    world = small_data.tables.shipments
    window = world[(world["created_at"] >= replay.since) & (world["created_at"] <= replay.end)]
    assert sorted(ships["shipment_id"].unique()) == sorted(window["shipment_id"])
    # A parcel is sent twice only when it is returned later: created, then its status.
    again = ships[ships["shipment_id"].duplicated()]
    assert set(again["final_status"]) <= {"RETURNED", "CANCELED", "LOST"}
    events = pd.concat([b.events for b in batches])
    scans = small_data.tables.scan_events
    expected = scans[
        scans["shipment_id"].isin(window["shipment_id"]) & (scans["event_time"] <= replay.end)
    ]
    assert len(events) == len(expected) > 1000
    assert not events.duplicated().any()


def test_bad_windows_are_refused_by_name(small_data):
    tables = small_data.tables
    with pytest.raises(ValueError, match="outside the data's scans"):
        Replay(tables, small_data.now + pd.Timedelta(days=1), 1)
    with pytest.raises(ValueError, match="days"):
        Replay(tables, small_data.now, 0)
    with pytest.raises(ValueError, match="every"):
        Replay(tables, small_data.now, 1, pd.Timedelta(0))


def test_in_process_replay_scores_what_batch_scoring_gives(replay, trained, tmp_path):
    locale = replay.tables.locale
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}", "k", locale)
    outbox = AlertStore(f"sqlite:///{tmp_path / 'outbox.db'}")
    watcher = Watcher(
        store, trained.predictor, "stallguard/1", outbox, AlertPolicy(), MessageBook()
    )
    seen: list[int] = []
    summary = run_replay(
        replay, LocalTarget(store, watcher), on_step=lambda s, m: seen.append(m.passes)
    )
    assert seen == list(range(1, replay.steps + 1)) and summary.passes == replay.steps
    assert summary.statuses[("scan_events", "rejected")] == 0
    assert summary.last is not None and summary.last.scored > 50
    # What was known at the end, cut the same way, scored in one batch.
    end = replay.end
    known = store.tables(end)
    expected = score(trained.predictor, known, end)
    assert len(expected) == summary.last.scored
    current = _current(store).set_index("shipment_id")["risk"]
    np.testing.assert_allclose(
        current.reindex(expected["shipment_id"]).to_numpy(), expected["risk"].to_numpy(), rtol=1e-9
    )
    # The store holds exactly what the world knew at the end: no outcome from the future.
    world = replay.tables.shipments.set_index("shipment_id")
    stored = known.shipments.set_index("shipment_id")
    delivered = world["delivered_at"].reindex(stored.index)
    assert stored["delivered_at"].notna().sum() == (delivered <= end).sum()
    assert summary.alerts == len(outbox.rows())


def _current(store: StateStore) -> pd.DataFrame:
    from serving.watch.schema import predictions

    with store._transaction() as conn:
        return pd.read_sql(predictions.select(), conn)


def test_replay_command_in_process(small_world_dir, serving_env, tmp_path, monkeypatch):
    for name, value in serving_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STALLGUARD_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("STALLGUARD_OUTBOX_URL", f"sqlite:///{tmp_path / 'outbox.db'}")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    from cli.settings import load_settings

    load_settings.cache_clear()
    result = CliRunner().invoke(
        app,
        ["replay", "--data", str(small_world_dir), "--days", "0.5", "--watch-every", "2h"],
    )
    load_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Rows sent" in result.output and "passes in" in result.output
    assert "6 passes" in result.output and "a pass:" in result.output
    bad = CliRunner().invoke(app, ["replay", "--data", str(small_world_dir), "--watch-every", "0h"])
    assert bad.exit_code == 2 and "must be positive" in bad.output
