"""The outbox sender against a real local webhook: retries, backoff, dead rows, crashes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cli.demo.receiver import WebhookReceiver
from serving.alerts import AlertPolicy, AlertStore, Scored, Sender, shipment_hash
from serving.messages import MessageBook

pytestmark = pytest.mark.serving

ROOT = Path(__file__).resolve().parents[2]
STALLGUARD = Path(sys.executable).with_name("stallguard")
NOW = pd.Timestamp("2025-12-12T00:00:00Z")
PROMISED = pd.Timestamp("2025-12-13T09:00:00Z")


@pytest.fixture()
def receiver_factory() -> Iterator[Any]:
    made: list[WebhookReceiver] = []

    def make(
        statuses: Iterable[int] = (), default: int = 200, delay: float = 0.0
    ) -> WebhookReceiver:
        made.append(WebhookReceiver(statuses, default, delay))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'outbox.db'}"


@pytest.fixture()
def store(db_url: str) -> Iterator[AlertStore]:
    with AlertStore(db_url) as s:
        yield s


def enqueue(store: AlertStore, n: int, at: pd.Timestamp = NOW) -> list[str]:
    batch = [
        Scored(
            shipment_id=f"SHP-{i:04d}",
            promised_at=PROMISED,
            as_of=at,
            risk=0.9,
            eta_p10=PROMISED + pd.Timedelta(hours=10),
            eta_p50=PROMISED + pd.Timedelta(hours=20),
            eta_p90=PROMISED + pd.Timedelta(hours=40),
            reasons=(("WEATHER", 0.8),),
            model_version="stallguard/3",
        )
        for i in range(n)
    ]
    alerts = store.decide(batch, AlertPolicy(), at, MessageBook())
    assert len(alerts) == n
    return [a.key for a in alerts]


def seconds(a: dt.datetime, b: dt.datetime) -> float:
    return (a - b).total_seconds()


def test_retries_until_delivered_with_growing_delays(store: AlertStore, receiver_factory) -> None:
    rx = receiver_factory(statuses=[500, 500])
    (key,) = enqueue(store, 1)
    with Sender.for_url(
        store, rx.url, token="s3cret", base_delay=1.0, rng=random.Random(7)
    ) as sender:
        assert sender.run_once(NOW) == 0
        first = store.get(key)
        assert first is not None and first.attempts == 1 and first.status == "pending"
        delay_1 = seconds(first.next_attempt_at, NOW)
        assert 0.5 <= delay_1 <= 1.0
        # Not due yet: nothing is sent.
        assert sender.run_once(NOW + pd.Timedelta(seconds=0.4)) == 0
        assert len(rx.requests) == 1

        t1 = first.next_attempt_at
        assert sender.run_once(t1) == 0
        second = store.get(key)
        assert second is not None and second.attempts == 2 and second.last_error == "HTTP 500"
        delay_2 = seconds(second.next_attempt_at, t1)
        assert 1.0 <= delay_2 <= 2.0 and delay_2 > delay_1

        assert sender.run_once(second.next_attempt_at) == 1
    done = store.get(key)
    assert done is not None and done.status == "delivered" and done.attempts == 3
    assert [r.key for r in rx.requests] == [key] * 3
    assert {r.authorization for r in rx.requests} == {"Bearer s3cret"}
    assert rx.requests[-1].body == json.loads(done.payload)


def test_delivered_rows_are_never_sent_again(store: AlertStore, receiver_factory) -> None:
    rx = receiver_factory()
    keys = enqueue(store, 3)
    with Sender.for_url(store, rx.url) as sender:
        assert sender.run_once(NOW) == 3
        assert sender.run_once(NOW + pd.Timedelta(days=30)) == 0
    assert sorted(k for k in rx.idempotency_keys() if k) == sorted(keys)
    assert rx.requests[0].authorization is None  # no token, no header
    assert store.counts() == {"pending": 0, "delivered": 3, "dead": 0}


def test_dead_after_max_attempts_and_kept(store: AlertStore, receiver_factory) -> None:
    rx = receiver_factory(default=503)
    (key,) = enqueue(store, 1)
    with Sender.for_url(store, rx.url, max_attempts=3, base_delay=0.01) as sender:
        at = NOW
        for _ in range(3):
            assert sender.run_once(at) == 0
            row = store.get(key)
            assert row is not None
            at = pd.Timestamp(row.next_attempt_at)
        assert row.status == "dead" and row.attempts == 3
        assert sender.run_once(NOW + pd.Timedelta(days=365)) == 0
    assert len(rx.requests) == 3
    assert store.counts() == {"pending": 0, "delivered": 0, "dead": 1}


def test_rejections_go_dead_at_once_but_throttling_is_retried(
    store: AlertStore, receiver_factory
) -> None:
    rx = receiver_factory(statuses=[400, 429, 408])
    a, b, c = enqueue(store, 3)
    with Sender.for_url(store, rx.url) as sender:
        sender.run_once(NOW)
    statuses = {k: store.get(k).status for k in (a, b, c)}  # type: ignore[union-attr]
    assert statuses == {a: "dead", b: "pending", c: "pending"}


def test_connection_errors_and_timeouts_are_retried(store: AlertStore, receiver_factory) -> None:
    closed = receiver_factory()
    url = closed.url
    closed.close()
    (key,) = enqueue(store, 1)
    with Sender.for_url(store, url, base_delay=0.01) as sender:
        assert sender.run_once(NOW) == 0
    row = store.get(key)
    assert row is not None and row.status == "pending" and row.last_error == "ConnectError"

    slow = receiver_factory(delay=0.5)
    with Sender.for_url(store, slow.url, timeout=0.1) as sender:
        assert sender.run_once(row.next_attempt_at) == 0
    row = store.get(key)
    assert row is not None and row.attempts == 2 and row.last_error == "ReadTimeout"


def test_backoff_grows_and_respects_max_delay() -> None:
    with (
        AlertStore("sqlite://") as store,
        Sender.for_url(
            store, "http://127.0.0.1:9/", base_delay=1.0, max_delay=10.0, rng=random.Random(3)
        ) as sender,
    ):
        for attempts in range(1, 12):
            cap = min(10.0, 2.0 ** (attempts - 1))
            for _ in range(20):
                assert 0.5 * cap <= sender.backoff(attempts) <= cap
        # The lower bound doubles, so delays grow until the cap, whatever the jitter.
        lows = [0.5 * min(10.0, 2.0 ** (n - 1)) for n in range(1, 6)]
        assert lows == sorted(lows) and sender.backoff(1000) <= 10.0


def test_logs_hash_shipment_ids(
    store: AlertStore, receiver_factory, caplog: pytest.LogCaptureFixture
) -> None:
    rx = receiver_factory(statuses=[500])
    enqueue(store, 2)
    with (
        caplog.at_level(logging.INFO, logger="stallguard.notify"),
        Sender.for_url(store, rx.url) as s,
    ):
        s.run_once(NOW)
    text = caplog.text
    assert "SHP-" not in text and "주소" not in text
    assert shipment_hash("SHP-0000") in text and shipment_hash("SHP-0001") in text
    assert "retry" in text and "delivered" in text


def test_run_loops_until_stopped(store: AlertStore, receiver_factory) -> None:
    rx = receiver_factory()
    stop = threading.Event()
    with Sender.for_url(store, rx.url) as sender:
        thread = threading.Thread(target=sender.run, args=(stop, 0.05))
        thread.start()
        try:
            keys = enqueue(store, 2, at=pd.Timestamp.now(tz="UTC"))
            deadline = time.monotonic() + 10
            while store.counts()["delivered"] < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stop.set()
            thread.join(timeout=5)
        assert not thread.is_alive()
    assert sorted(k for k in rx.idempotency_keys() if k) == sorted(keys)


def sender_process(db_url: str, webhook: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [str(STALLGUARD), "notify", "--outbox", db_url, "--webhook", webhook]
    with log.open("ab") as out:
        return subprocess.Popen([*command, *extra], cwd=ROOT, stdout=out, stderr=out)


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow
def test_a_killed_sender_loses_at_most_the_request_in_flight(
    store: AlertStore, db_url: str, receiver_factory, tmp_path: Path
) -> None:
    keys = enqueue(store, 200)
    rx = receiver_factory(delay=0.02)
    log = tmp_path / "sender.log"
    proc = sender_process(db_url, rx.url, log)
    try:
        assert wait_until(lambda: len(rx.requests) >= 40, timeout=60), log.read_text()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    time.sleep(0.1)  # let the receiver finish the request it was answering
    delivered_before = {r.key for r in store.rows("delivered")}
    seen_before = len(rx.requests)
    assert 0 < len(delivered_before) < 200

    for _ in range(5):
        if store.counts()["pending"] == 0:
            break
        assert sender_process(db_url, rx.url, log, "--once").wait(timeout=60) == 0
    assert store.counts() == {"pending": 0, "delivered": 200, "dead": 0}

    received = rx.idempotency_keys()
    assert set(received) == set(keys)
    assert not delivered_before & set(received[seen_before:])
    assert len(received) - len(set(received)) <= 1


@pytest.mark.slow
def test_sigterm_stops_cleanly_after_the_delivery_in_flight(
    store: AlertStore, db_url: str, receiver_factory, tmp_path: Path
) -> None:
    enqueue(store, 30)
    rx = receiver_factory(delay=0.1)
    log = tmp_path / "sender.log"
    proc = sender_process(db_url, rx.url, log)
    try:
        assert wait_until(lambda: len(rx.requests) >= 3, timeout=60), log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.2)
    received = rx.idempotency_keys()
    # A clean stop finishes and records the request in flight: no resend needed.
    assert {r.key for r in store.rows("delivered")} == set(received)
    assert len(received) < 30
    text = log.read_text()
    assert "SIGTERM" in text and "stopped; outbox pending=" in text
    assert "SHP-" not in text


def _notify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STALLGUARD), "notify", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200", **env},
    )


def test_notify_reads_outbox_webhook_and_token_from_the_settings(
    store: AlertStore, db_url: str, receiver_factory
) -> None:
    keys = enqueue(store, 3)
    rx = receiver_factory()
    env = {
        "STALLGUARD_OUTBOX_URL": db_url,
        "STALLGUARD_WEBHOOK_URL": rx.url,
        "STALLGUARD_WEBHOOK_TOKEN": "s3cret-token",
    }
    done = _notify(env, "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "delivered 3" in done.stdout
    assert sorted(k for k in rx.idempotency_keys() if k) == sorted(keys)
    assert {r.authorization for r in rx.requests} == {"Bearer s3cret-token"}
    assert "s3cret-token" not in done.stdout + done.stderr
    assert "/alerts" not in done.stdout  # the webhook's path is redacted


def test_notify_refuses_an_outbox_that_does_not_exist(tmp_path: Path, receiver_factory) -> None:
    missing = tmp_path / "nowhere" / "outbox.db"
    env = {"STALLGUARD_OUTBOX_URL": f"sqlite:///{missing}", "STALLGUARD_WEBHOOK_URL": "http://h/"}
    done = _notify(env, "--once")
    assert done.returncode == 2
    assert "no outbox at" in done.stdout and "STALLGUARD_OUTBOX_URL" in done.stdout
    assert not missing.exists()  # not silently created as an empty, healthy-looking queue


def test_an_unknown_delivery_scheme_is_refused_by_name(db_url: str, store: AlertStore) -> None:
    enqueue(store, 1)
    done = _notify({"STALLGUARD_OUTBOX_URL": db_url}, "--once", "--webhook", "ftp://h/x")
    assert done.returncode == 2
    assert "no alert channel for 'ftp'" in done.stdout and "http" in done.stdout
