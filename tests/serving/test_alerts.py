"""Alert policy and store: hysteresis, one LATE per promise, ETA moves, back on track,
idempotency, envelopes, outbox."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from serving.alerts import (
    Alert,
    AlertPolicy,
    AlertStore,
    Scored,
    eta_changed_key,
    late_key,
)
from serving.messages import MessageBook

pytestmark = pytest.mark.serving

PROMISED = pd.Timestamp("2025-12-13T09:00:00Z")
P50 = pd.Timestamp("2025-12-14T06:00:00Z")
NOW = pd.Timestamp("2025-12-12T00:00:00Z")
POLICY = AlertPolicy(0.6, 0.4, 12.0)  # round numbers the cases below read easily
BOOK = MessageBook()


def scored(
    risk: float,
    p50: pd.Timestamp = P50,
    shipment_id: str = "SHP-1",
    promised_at: pd.Timestamp = PROMISED,
) -> Scored:
    return Scored(
        shipment_id=shipment_id,
        promised_at=promised_at,
        as_of=NOW,
        risk=risk,
        eta_p10=p50 - pd.Timedelta(hours=10),
        eta_p50=p50,
        eta_p90=p50 + pd.Timedelta(hours=20),
        reasons=(("HUB_BACKLOG", 0.6), ("WEATHER", 0.3)),
        model_version="stallguard/3",
    )


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "outbox.db"


@pytest.fixture()
def store(db: Path) -> Iterator[AlertStore]:
    with AlertStore(f"sqlite:///{db}") as s:
        yield s


def kinds(alerts: list[Alert]) -> list[str]:
    return [a.kind for a in alerts]


def test_hysteresis_sends_one_late_per_promise(store: AlertStore) -> None:
    seen = []
    for risk in (0.5, 0.65, 0.5, 0.35, 0.7):
        alerts = store.decide([scored(risk)], POLICY, NOW, BOOK)
        seen.append((kinds(alerts), store.state("SHP-1", PROMISED)[0]))
    assert seen == [
        ([], False),  # below enter: nothing
        (["LATE"], True),  # enters
        ([], True),  # between exit and enter: keeps its state, no alert
        (["BACK_ON_TRACK"], False),  # below exit: leaves, and the customer hears so
        (["ETA_CHANGED"], True),  # enters again: told at once (LATE is once per promise)
    ]


def test_back_on_track_once_per_episode_and_only_after_an_alert(store: AlertStore) -> None:
    never = [scored(r, shipment_id="SHP-calm") for r in (0.5, 0.3, 0.1)]
    assert [store.decide([s], POLICY, NOW, BOOK) for s in never] == [[], [], []]
    seen = [kinds(store.decide([scored(r)], POLICY, NOW, BOOK)) for r in (0.9, 0.2, 0.1, 0.5, 0.3)]
    assert seen == [["LATE"], ["BACK_ON_TRACK"], [], [], []]
    later = P50 + pd.Timedelta(hours=30)
    again = [kinds(store.decide([scored(r, later)], POLICY, NOW, BOOK)) for r in (0.7, 0.1)]
    assert again == [["ETA_CHANGED"], ["BACK_ON_TRACK"]]  # a second episode, its own key
    rows = store.rows()
    assert [r.kind for r in rows].count("BACK_ON_TRACK") == 2
    assert len({r.key for r in rows}) == 4


def test_back_on_track_state_survives_a_new_store(db: Path) -> None:
    with AlertStore(f"sqlite:///{db}") as first:
        first.decide([scored(0.9)], POLICY, NOW, BOOK)
        assert kinds(first.decide([scored(0.2)], POLICY, NOW, BOOK)) == ["BACK_ON_TRACK"]
    with AlertStore(f"sqlite:///{db}") as second:
        assert second.decide([scored(0.1)], POLICY, NOW, BOOK) == []
        assert second.decide([scored(0.2)], POLICY, NOW, BOOK) == []  # same episode
        assert kinds(second.decide([scored(0.8)], POLICY, NOW, BOOK)) == ["ETA_CHANGED"]


def test_thresholds_are_inclusive_exclusive_as_documented(store: AlertStore) -> None:
    assert kinds(store.decide([scored(0.6)], POLICY, NOW, BOOK)) == ["LATE"]
    store.decide([scored(0.4)], POLICY, NOW, BOOK)
    assert store.state("SHP-1", PROMISED)[0] is True  # 0.4 is not below exit
    store.decide([scored(0.3999)], POLICY, NOW, BOOK)
    assert store.state("SHP-1", PROMISED)[0] is False


def test_eta_changed_only_beyond_the_window_sent_by_the_move(store: AlertStore) -> None:
    # The window sent with the LATE alert: P50 - 10 h .. P50 + 20 h; the move: 12 h.
    assert kinds(store.decide([scored(0.8)], POLICY, NOW, BOOK)) == ["LATE"]
    inside = P50 + pd.Timedelta(hours=19)  # still in the window the customer has
    assert store.decide([scored(0.8, inside)], POLICY, NOW, BOOK) == []
    just_out = P50 + pd.Timedelta(hours=31)  # 11 h past its end: not far enough
    assert store.decide([scored(0.8, just_out)], POLICY, NOW, BOOK) == []
    moved = P50 + pd.Timedelta(hours=33, minutes=30)
    alerts = store.decide([scored(0.8, moved)], POLICY, NOW, BOOK)
    assert kinds(alerts) == ["ETA_CHANGED"]
    hour = pd.Timestamp("2025-12-15T15:00:00Z")
    assert alerts[0].key == eta_changed_key("SHP-1", PROMISED, hour)
    # The next change counts from the window last sent (moved - 10 h .. moved + 20 h).
    assert store.decide([scored(0.8, moved + pd.Timedelta(hours=31))], POLICY, NOW, BOOK) == []
    earlier = moved - pd.Timedelta(hours=23)  # 13 h before that window's start
    assert kinds(store.decide([scored(0.8, earlier)], POLICY, NOW, BOOK)) == ["ETA_CHANGED"]


def test_a_move_without_a_stored_window_falls_back_to_the_p50_rule(db: Path) -> None:
    # Rows written before the window was kept hold only the P50 of the last alert.
    with AlertStore(f"sqlite:///{db}") as store:
        store.decide([scored(0.8)], POLICY, NOW, BOOK)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alert_state SET last_alert_p10 = NULL, last_alert_p90 = NULL")
    conn.close()
    with AlertStore(f"sqlite:///{db}") as store:
        moved = P50 + pd.Timedelta(hours=13)
        assert kinds(store.decide([scored(0.8, moved)], POLICY, NOW, BOOK)) == ["ETA_CHANGED"]


def test_no_eta_alert_outside_the_alert_state(store: AlertStore) -> None:
    store.decide([scored(0.8)], POLICY, NOW, BOOK)
    assert kinds(store.decide([scored(0.2)], POLICY, NOW, BOOK)) == ["BACK_ON_TRACK"]
    far = P50 + pd.Timedelta(days=2)
    assert store.decide([scored(0.2, far)], POLICY, NOW, BOOK) == []
    # Back in the alert state: tell the new ETA, not LATE.
    assert kinds(store.decide([scored(0.9, far)], POLICY, NOW, BOOK)) == ["ETA_CHANGED"]


def test_reposting_the_same_batch_gives_nothing_new(store: AlertStore) -> None:
    batch = [scored(0.9, shipment_id=f"SHP-{i}") for i in range(5)] + [
        scored(0.1, shipment_id="SHP-low")
    ]
    first = store.decide(batch, POLICY, NOW, BOOK)
    assert [a.shipment_id for a in first] == [f"SHP-{i}" for i in range(5)]
    assert store.decide(batch, POLICY, NOW + pd.Timedelta(minutes=5), BOOK) == []
    assert store.counts() == {"pending": 5, "delivered": 0, "parked": 0, "dead": 0}


def test_a_shipment_twice_in_one_batch_alerts_once(store: AlertStore) -> None:
    alerts = store.decide([scored(0.9), scored(0.95)], POLICY, NOW, BOOK)
    assert kinds(alerts) == ["LATE"]
    assert len(store.rows()) == 1


def test_a_new_promise_is_a_new_key_space(store: AlertStore) -> None:
    assert kinds(store.decide([scored(0.9)], POLICY, NOW, BOOK)) == ["LATE"]
    repromised = PROMISED + pd.Timedelta(days=2)
    alerts = store.decide([scored(0.9, promised_at=repromised)], POLICY, NOW, BOOK)
    assert kinds(alerts) == ["LATE"]
    assert alerts[0].key == late_key("SHP-1", repromised) != late_key("SHP-1", PROMISED)


def test_keys_are_stable_header_safe_digests() -> None:
    p50 = pd.Timestamp("2025-12-14T06:59:59Z")
    key = late_key("S", PROMISED)
    assert re.fullmatch(r"LATE-[0-9a-f]{32}", key)
    assert key == late_key("S", PROMISED.tz_convert("Asia/Seoul"))  # the instant, not its zone
    changed = eta_changed_key("S", PROMISED, p50)
    assert re.fullmatch(r"ETA_CHANGED-[0-9a-f]{32}", changed)
    assert changed == eta_changed_key("S", PROMISED, p50.floor("h"))  # hour buckets
    assert changed != eta_changed_key("S", PROMISED, p50 + pd.Timedelta(hours=1))
    for odd in ("배송-123", "a\x00b", "a\r\nX-Evil: 1", "x" * 1_000_000):
        assert re.fullmatch(r"LATE-[0-9a-f]{32}", late_key(odd, PROMISED))


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"enter": 0.4, "exit": 0.6}, "exit"),
        ({"enter": 0.5, "exit": 0.5}, "exit"),
        ({"enter": 1.2}, "enter"),
        ({"exit": -0.1}, "exit"),
        ({"eta_move_h": -1.0}, "eta_move_h"),
    ],
)
def test_invalid_thresholds_raise(kwargs: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        AlertPolicy(**kwargs)


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError, match="promised_at"):
        scored(0.9, promised_at=pd.Timestamp("2025-12-13T09:00:00"))


def test_returned_alerts_equal_outbox_rows(store: AlertStore) -> None:
    book = MessageBook({"HUB_BACKLOG": {"ko": "쿠폰을 드립니다.", "en": "Here is a coupon."}})
    batch = [scored(0.3 + 0.1 * i, shipment_id=f"SHP-{i}") for i in range(7)]
    alerts = store.decide(batch, POLICY, NOW, book)
    rows = store.rows()
    assert {a.key for a in alerts} == {r.key for r in rows}
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    by_key = {r.key: json.loads(r.payload) for r in rows}
    for alert in alerts:
        envelope = by_key[alert.key]
        assert envelope == alert.payload()
        assert envelope["type"] == "shipment.at_risk" and envelope["version"] == 1
        assert envelope["timestamp"] == NOW.isoformat()
        payload = envelope["data"]
        assert set(payload) == {
            "key",
            "kind",
            "shipment_id",
            "promised_at",
            "as_of",
            "risk",
            "eta_p10",
            "eta_p50",
            "eta_p90",
            "reasons",
            "model_version",
            "message",
            "compensation",
        }
        assert payload["promised_at"] == "2025-12-13T09:00:00+00:00"
        assert payload["reasons"][0] == {"code": "HUB_BACKLOG", "share": 0.6}
        assert set(payload["message"]) == {"ko", "en"}
        assert payload["compensation"] == {"ko": "쿠폰을 드립니다.", "en": "Here is a coupon."}


@pytest.mark.parametrize(
    ("risks", "event_type"),
    [
        ((0.9,), "shipment.at_risk"),
        ((0.9, 0.2), "shipment.back_on_track"),
        ((0.9, 0.2, 0.9), "shipment.eta_changed"),
    ],
)
def test_each_kind_has_its_envelope_type(
    store: AlertStore, risks: tuple[float, ...], event_type: str
) -> None:
    for risk in risks:
        alerts = store.decide([scored(risk)], POLICY, NOW, BOOK)
    (alert,) = alerts
    row = store.get(alert.key)
    assert row is not None
    envelope = json.loads(row.payload)
    assert envelope["type"] == event_type
    assert envelope["data"]["kind"] == alert.kind
    assert set(envelope["data"]["message"]) == {"ko", "en"}


def test_state_persists_across_store_instances(db: Path) -> None:
    with AlertStore(f"sqlite:///{db}") as first:
        assert kinds(first.decide([scored(0.9)], POLICY, NOW, BOOK)) == ["LATE"]
    with AlertStore(f"sqlite:///{db}") as second:
        assert second.decide([scored(0.9)], POLICY, NOW, BOOK) == []
        assert second.state("SHP-1", PROMISED) == (True, P50)
        assert second.counts()["pending"] == 1


def test_tables_and_folder_appear_on_first_use_in_wal_mode(db: Path) -> None:
    store = AlertStore(f"sqlite:///{db}")
    assert not db.parent.exists()  # constructing touches nothing
    assert store.counts() == {"pending": 0, "delivered": 0, "parked": 0, "dead": 0}
    store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"alert_state", "outbox"} <= tables


def _outcome(key: str, status: str, at: pd.Timestamp, error: str | None = None, due=None):
    from serving.alerts import Outcome

    return Outcome(key, status, at, error, due)


def test_outbox_claims_and_records_a_batch(store: AlertStore) -> None:
    store.decide([scored(0.9, shipment_id=s) for s in ("A", "B", "C", "D")], POLICY, NOW, BOOK)
    claimed = store.claim("me", NOW, limit=10, lease_s=60)
    assert len(claimed) == 4
    a, b, c, d = (r.key for r in claimed)
    later = NOW + pd.Timedelta(minutes=1)
    store.record(
        "me",
        [
            _outcome(a, "delivered", NOW),
            _outcome(b, "pending", NOW, "HTTP 500", later),
            _outcome(c, "parked", NOW, "HTTP 404", NOW),
            _outcome(d, "dead", NOW, "HTTP 503", NOW),
        ],
    )
    assert store.counts() == {"pending": 1, "delivered": 1, "parked": 1, "dead": 1}
    assert store.claim("me", NOW, 10, 60) == []  # b is not due yet
    assert [r.key for r in store.claim("me", later, 10, 60)] == [b]
    row = store.get(b)
    assert row is not None and row.attempts == 1 and row.last_error == "HTTP 500"


def test_a_leased_row_goes_to_one_sender_until_its_lease_runs_out(store: AlertStore) -> None:
    store.decide([scored(0.9, shipment_id=f"S{i}") for i in range(6)], POLICY, NOW, BOOK)
    first = {r.key for r in store.claim("one", NOW, limit=4, lease_s=30)}
    second = {r.key for r in store.claim("two", NOW, limit=10, lease_s=120)}
    assert len(first) == 4 and len(second) == 2 and not first & second
    assert store.claim("three", NOW + pd.Timedelta(seconds=29), 10, 30) == []
    # "one" died: after its lease anyone may take its rows; its late records change nothing.
    taken = {r.key for r in store.claim("three", NOW + pd.Timedelta(seconds=31), 10, 30)}
    assert taken == first
    key = sorted(first)[0]
    store.record("one", [_outcome(key, "dead", NOW, "HTTP 503", NOW)])
    row = store.get(key)
    assert row is not None and row.status == "pending"
    # ...except a delivery, which stands whoever reports it (it was acknowledged).
    store.record("one", [_outcome(key, "delivered", NOW)])
    assert store.get(key).status == "delivered"  # type: ignore[union-attr]


def test_parked_and_dead_rows_can_be_requeued_and_purged(store: AlertStore) -> None:
    store.decide([scored(0.9, shipment_id=s) for s in ("A", "B", "C")], POLICY, NOW, BOOK)
    a, b, c = (r.key for r in store.claim("me", NOW, 10, 60))
    store.record(
        "me",
        [
            _outcome(a, "parked", NOW, "HTTP 401", NOW),
            _outcome(b, "dead", NOW, "HTTP 503", NOW),
            _outcome(c, "delivered", NOW),
        ],
    )
    later = NOW + pd.Timedelta(days=2)
    assert store.requeue(later, "parked") == 1
    row = store.get(a)
    assert row is not None and row.status == "pending" and row.queued_at == later
    assert row.attempts == 1  # attempts so far stay counted
    assert store.requeue(later, keys=[b]) == 1
    with pytest.raises(ValueError, match="parked or dead"):
        store.requeue(later, "delivered")
    assert store.purge("delivered", NOW) == 0  # not older than that
    assert store.purge("delivered", later) == 1
    assert store.counts() == {"pending": 2, "delivered": 0, "parked": 0, "dead": 0}


def test_an_outbox_made_before_migrations_is_upgraded_in_place(db: Path) -> None:
    # The first releases created these two tables with create_all and no version table.
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.executescript(
            """
            CREATE TABLE alert_state (shipment_id VARCHAR(128), promised_at DATETIME,
                active BOOLEAN NOT NULL, last_alert_p50 DATETIME, updated_at DATETIME NOT NULL,
                PRIMARY KEY (shipment_id, promised_at));
            CREATE TABLE outbox (key VARCHAR(255) PRIMARY KEY, kind VARCHAR(32) NOT NULL,
                shipment_id VARCHAR(128) NOT NULL, payload TEXT NOT NULL,
                created_at DATETIME NOT NULL, attempts INTEGER NOT NULL,
                next_attempt_at DATETIME NOT NULL, delivered_at DATETIME, status VARCHAR(16)
                NOT NULL, last_error TEXT);
            INSERT INTO outbox VALUES ('old-key', 'LATE', 'S1', '{}', '2025-12-01 00:00:00',
                2, '2025-12-01 00:05:00', NULL, 'pending', 'HTTP 503');
            """
        )
    conn.close()
    with AlertStore(f"sqlite:///{db}") as store:
        (row,) = store.claim("me", NOW, 10, 60)
        assert row.key == "old-key" and row.attempts == 2
        assert row.queued_at == row.created_at
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alert_schema_version").fetchone()[0]
    conn.close()


def test_two_stores_deciding_concurrently_enqueue_each_alert_once(db: Path) -> None:
    # Two service workers on one SQLite file, the same parcels: each alert is enqueued once.
    batch = [scored(0.9, shipment_id=f"SHP-{i}") for i in range(50)]
    results: list[list[Alert]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with AlertStore(f"sqlite:///{db}") as s:
                for _ in range(5):
                    results.append(s.decide(batch, POLICY, NOW, BOOK))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    keys = [a.key for alerts in results for a in alerts]
    assert len(keys) == len(set(keys)) == 50
    with AlertStore(f"sqlite:///{db}") as s:
        assert s.counts()["pending"] == 50


def test_the_policy_comes_from_the_settings() -> None:
    from serving.settings import Settings, SettingsError

    assert Settings.load({}).alert_policy() == AlertPolicy()
    assert AlertPolicy() == AlertPolicy(0.40, 0.15, 36.0)  # the live-path sweep's choice
    set_both = Settings.load({"STALLGUARD_ALERT_ENTER": "0.7", "STALLGUARD_ALERT_EXIT": "0.5"})
    assert set_both.alert_policy() == AlertPolicy(0.7, 0.5, 36.0)
    with pytest.raises(SettingsError, match="STALLGUARD_ALERT_EXIT"):
        Settings.load({"STALLGUARD_ALERT_ENTER": "0.5", "STALLGUARD_ALERT_EXIT": "0.6"})
