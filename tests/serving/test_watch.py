"""The live watch on a real SQLite store: ingestion, PII at rest, passes, leases, alerts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.alerts import AlertPolicy, AlertStore
from serving.messages import MessageBook
from serving.watch.ingest import ingest_tables
from serving.watch.store import StateStore, reasons_json
from serving.watch.watcher import WatchBusy, Watcher
from training.reasons import REASONS
from training.scoring import score, score_with_features

pytestmark = pytest.mark.serving

PII_KEY = "test-pii-key"


@pytest.fixture(scope="module")
def state(small_data, tmp_path_factory):
    """The small world ingested into a SQLite store (once for the module)."""
    root = tmp_path_factory.mktemp("state")
    store = StateStore(f"sqlite:///{root / 'state.db'}", PII_KEY, small_data.tables.locale)
    report = ingest_tables(store, small_data.tables)
    yield store, root, report
    store.close()


def watcher(store, trained, tmp_path: Path, clock=None) -> Watcher:
    alerts = AlertStore(f"sqlite:///{tmp_path / 'outbox.db'}")
    kwargs = {"clock": clock} if clock is not None else {}
    return Watcher(
        store, trained.predictor, "stallguard/1", alerts, AlertPolicy(), MessageBook(), **kwargs
    )


def test_bulk_ingest_stores_every_row_once(state, small_data):
    store, _, report = state
    counts = store.counts()
    assert counts["shipments"] == len(small_data.tables.shipments)
    assert counts["scan_events"] == small_data.tables.scan_events.drop_duplicates().shape[0]
    statuses = report.table().set_index(["table", "status"])["rows"]
    assert statuses[("shipments", "accepted")] == len(small_data.tables.shipments)
    again = ingest_tables(
        store, small_data.tables.replace(scan_events=small_data.tables.scan_events.head(500))
    )
    table = again.table().set_index(["table", "status"])["rows"]
    assert table[("shipments", "duplicate")] == len(small_data.tables.shipments)
    assert table[("scan_events", "duplicate")] == 500
    assert store.counts() == counts


def test_no_address_or_phone_is_stored_in_clear(state, small_data):
    _, root, _ = state
    ships = small_data.tables.shipments
    marks = [*ships["dest_address"].dropna().head(50), *ships["recipient_phone"].dropna().head(50)]
    blob = b"".join(f.read_bytes() for f in root.iterdir() if f.is_file())
    for mark in marks:
        assert mark.encode("utf-8") not in blob, "PII found in the state database files"


def test_scans_in_any_order_duplicates_and_unknown_shipments(state, small_data):
    store, _, _ = state
    events = small_data.tables.scan_events
    one = events[events["shipment_id"] == events["shipment_id"].iloc[0]]
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    shuffled = pd.concat([one.iloc[::-1], one.head(1).assign(shipment_id="NOBODY-1")])
    results = store.put_events(shuffled.reset_index(drop=True), now)
    assert [r.status for r in results[:-1]] == ["duplicate"] * len(one)
    assert results[-1].status == "rejected" and results[-1].error == "unknown shipment_id"
    assert "NOBODY-1" in results[-1].key


def test_a_pass_scores_like_batch_scoring_on_the_same_data(state, small_data, trained, tmp_path):
    store, _, _ = state
    as_of = small_data.now - pd.Timedelta(days=3)
    result = watcher(store, trained, tmp_path).run_pass(as_of)
    expected = score(trained.predictor, small_data.tables, as_of)
    assert result.scored == len(expected) > 100
    got = store.tables(as_of)  # what the pass read: no address text, derived values instead
    assert got.shipments["dest_address"].isna().all() and len(got.address_quality)
    current = _current(store, as_of).set_index("shipment_id")["risk"]
    np.testing.assert_allclose(
        current.reindex(expected["shipment_id"]).to_numpy(), expected["risk"].to_numpy(), rtol=1e-9
    )


def test_parcels_that_do_not_move_get_riskier(state, small_data, trained, tmp_path):
    store, _, _ = state
    t0 = small_data.now - pd.Timedelta(days=6)
    t1 = t0 + pd.Timedelta(hours=24)
    events = small_data.tables.scan_events
    moved = set(
        events.loc[(events["event_time"] > t0) & (events["event_time"] <= t1), "shipment_id"]
    )
    w = watcher(store, trained, tmp_path)
    w.run_pass(t0)
    before = _current(store, t0).set_index("shipment_id")["risk"]
    w.run_pass(t1)
    after = _current(store, t1).set_index("shipment_id")["risk"]
    # Parcels with no scan for the day, whose risk was not yet settled either way.
    still = [
        s for s in before.index if s in after.index and s not in moved and 0.01 < before[s] < 0.99
    ]
    assert len(still) > 30
    rose = (after[still] > before[still]).mean()
    print(f"{len(still)} parcels without a scan for 24 h: {rose:.0%} got riskier")
    assert rose > 0.6 and after[still].mean() > before[still].mean()


def test_passes_never_overlap(state, trained, small_data, tmp_path):
    store, _, _ = state
    import datetime as dt

    assert store.acquire("someone-else", dt.datetime.now(dt.UTC), 60)
    try:
        with pytest.raises(WatchBusy):
            watcher(store, trained, tmp_path).run_pass(small_data.now)
    finally:
        store.release("someone-else")


def test_one_watcher_runs_one_pass_at_a_time_across_its_threads(
    state, trained, small_data, tmp_path
):
    """The service's clock and POST /watch share a watcher (and one lease owner)."""
    store, _, _ = state
    entered, leave = threading.Event(), threading.Event()

    def slow(predictor, tables, as_of, context):
        entered.set()
        leave.wait(30)
        return score_with_features(predictor, tables, as_of, context)

    alerts = AlertStore(f"sqlite:///{tmp_path / 'outbox.db'}")
    shared = Watcher(
        store, trained.predictor, "stallguard/1", alerts, AlertPolicy(), MessageBook(), scorer=slow
    )
    first = threading.Thread(target=shared.run_pass, args=(small_data.now,))
    first.start()
    try:
        assert entered.wait(60)
        with pytest.raises(WatchBusy):
            shared.run_pass(small_data.now)
    finally:
        leave.set()
        first.join(60)
    assert shared.run_pass(small_data.now).scored > 0  # free again once it ended


def test_alerts_from_a_pass_are_enqueued_once(state, small_data, trained, tmp_path):
    store, _, _ = state
    w = watcher(store, trained, tmp_path)
    as_of = small_data.now - pd.Timedelta(days=2)
    first = w.run_pass(as_of)
    assert first.alerts > 0 and first.at_risk > 0
    assert w.run_pass(as_of).alerts == 0  # the same pass again: nothing new
    assert w.alerts.counts()["pending"] == first.alerts


def test_the_log_keeps_each_pass_as_it_made_it_current(state, small_data, trained, tmp_path):
    store, _, _ = state
    w = watcher(store, trained, tmp_path)
    first, later = (small_data.now - pd.Timedelta(days=4, hours=h) for h in (1, 0))
    w.run_pass(first)
    made = _current(store, first)
    w.run_pass(first)  # a re-run logs nothing twice
    w.run_pass(later)
    log = _logged(store)
    columns = [c for c in log.columns if c != "as_of"]
    for as_of, current in ((first, made), (later, _current(store, later))):
        logged = log[log["as_of"] == as_of.tz_convert("UTC").tz_localize(None)]
        assert len(logged) == len(current) > 100
        pd.testing.assert_frame_equal(
            logged[columns].sort_values("shipment_id").reset_index(drop=True),
            current[columns].sort_values("shipment_id").reset_index(drop=True),
        )


def _logged(store: StateStore) -> pd.DataFrame:
    from serving.watch.schema import prediction_log

    with store.engine.connect() as conn:
        return pd.read_sql(prediction_log.select(), conn)


def _current(store: StateStore, as_of: pd.Timestamp) -> pd.DataFrame:
    """The current predictions that pass as of `as_of` wrote."""
    from serving.watch.schema import predictions

    with store.engine.connect() as conn:
        frame = pd.read_sql(predictions.select(), conn)
    return frame[frame["as_of"] == as_of.tz_convert("UTC").tz_localize(None)]


def test_weather_and_network_upserts_answer_duplicate_or_accepted(small_data, tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}", PII_KEY, small_data.tables.locale)
    daily = small_data.tables.weather_daily.head(200)
    assert {r.status for r in store.put_table("weather_daily", daily)} == {"accepted"}
    assert {r.status for r in store.put_table("weather_daily", daily)} == {"duplicate"}
    wetter = daily.head(3).assign(precip_mm=daily["precip_mm"].head(3) + 5.0)
    results = store.put_table("weather_daily", pd.concat([wetter, daily.iloc[3:6]]))
    assert [r.status for r in results] == ["accepted"] * 3 + ["duplicate"] * 3
    stored = store.tables(small_data.now).weather_daily
    assert len(stored) == len(daily)
    got = wetter[["region", "date"]].merge(stored, on=["region", "date"], how="left")
    np.testing.assert_allclose(got["precip_mm"], wetter["precip_mm"])
    places = small_data.tables.network
    store.put_table("network", places)
    bigger = places.head(1).assign(daily_capacity=places["daily_capacity"].iloc[0] * 2)
    (result,) = store.put_table("network", bigger)
    assert result.status == "accepted" and result.key == places["location_id"].iloc[0]
    assert len(store.tables(small_data.now).network) == len(places)


def test_reasons_are_stored_as_json_dumps_writes_them():
    rng = np.random.default_rng(2)
    codes = np.array([*REASONS, None], dtype=object)
    frame = pd.DataFrame(
        {
            **{f"reason_{k}": rng.choice(codes, 500) for k in (1, 2, 3)},
            **{
                f"reason_{k}_share": rng.choice([0.0, 1.0, 1e-5, 0.30145, rng.random()], 500)
                for k in (1, 2, 3)
            },
        }
    )
    want = [
        json.dumps(
            [
                [c, round(float(s), 4)]
                for c, s in ((row[f"reason_{k}"], row[f"reason_{k}_share"]) for k in (1, 2, 3))
                if isinstance(c, str)
            ]
        )
        for row in frame.to_dict("records")
    ]
    assert reasons_json(frame) == want
