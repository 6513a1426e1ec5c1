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
from support.alerts import queue_late

from cli.demo.receiver import WebhookReceiver
from serving.alerts import AlertStore, Sender, shipment_hash

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
    keys = queue_late(store, (f"SHP-{i:04d}" for i in range(n)), PROMISED, at)
    assert len(keys) == n
    return keys


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
    assert store.counts() == {"pending": 0, "delivered": 3, "parked": 0, "dead": 0}


def retry_until(sender: Sender, store: AlertStore, key: str, until: pd.Timestamp) -> list:
    """Run the sender at each next attempt time of `key` up to `until`; the rows seen."""
    seen = []
    at = NOW
    while at <= until:
        sender.run_once(at)
        row = store.get(key)
        assert row is not None
        seen.append(row)
        if row.status != "pending":
            break
        at = pd.Timestamp(row.next_attempt_at)
    return seen


def test_dead_only_after_the_horizon_and_kept(store: AlertStore, receiver_factory) -> None:
    rx = receiver_factory(default=503)
    (key,) = enqueue(store, 1)
    with Sender.for_url(store, rx.url, base_delay=1.0, max_delay=60.0, horizon=600) as sender:
        rows = retry_until(sender, store, key, NOW + pd.Timedelta(hours=1))
        last = rows[-1]
        assert last.status == "dead" and all(r.status == "pending" for r in rows[:-1])
        # Dead because the next wait would pass the horizon, never before it was close.
        assert seconds(last.next_attempt_at, NOW) > 600 - 60
        assert sender.run_once(NOW + pd.Timedelta(days=365)) == 0
    assert len(rx.requests) == last.attempts > 8  # the old limit gave up after 8
    assert store.counts() == {"pending": 0, "delivered": 0, "parked": 0, "dead": 1}


def test_a_receiver_down_for_hours_loses_nothing(store: AlertStore, receiver_factory) -> None:
    # The old schedule (8 attempts from 1 s) gave up after about 2 minutes.
    rx = receiver_factory(default=503)
    keys = enqueue(store, 20)
    with Sender.for_url(store, rx.url) as sender:
        at = NOW
        while at < NOW + pd.Timedelta(hours=3):
            sender.run_once(at)
            at += pd.Timedelta(minutes=5)
        assert store.counts()["dead"] == 0 and store.counts()["pending"] == 20
        rx.default = 200  # back up
        assert sender.run_once(at + pd.Timedelta(minutes=30)) == 20
    assert {r["_key"] for r in rx.received} == set(keys)


@pytest.mark.parametrize("refusal", [400, 401, 403, 404, 410, 422])
def test_refusals_are_parked_but_throttling_is_retried(
    store: AlertStore, receiver_factory, refusal: int
) -> None:
    rx = receiver_factory(statuses=[refusal, 429, 408])
    enqueue(store, 3)
    with Sender.for_url(store, rx.url, concurrency=1) as sender:
        sender.run_once(NOW)
    a, b, c = rx.idempotency_keys()  # answered refusal, 429, 408 in this order
    statuses = {k: store.get(k).status for k in (a, b, c)}  # type: ignore[union-attr]
    assert statuses == {a: "parked", b: "pending", c: "pending"}
    assert store.get(a).last_error == f"HTTP {refusal}"  # type: ignore[union-attr]


def test_odd_shipment_ids_never_stop_the_queue(store: AlertStore, receiver_factory) -> None:
    odd = ["배송-한글-1", "nul\x00id", "cr\r\nX-Injected: 1", "x" * 1_000_000]
    queue_late(store, [*odd, *(f"SHP-{i}" for i in range(21))], PROMISED, NOW)
    rx = receiver_factory()
    with Sender.for_url(store, rx.url) as sender:
        assert sender.run_once(NOW) == 25
    assert len(rx.received) == 25
    assert store.counts() == {"pending": 0, "delivered": 25, "parked": 0, "dead": 0}


class FlakyChannel:
    """A channel that raises (not an HTTP error: anything) for one key."""

    name = "flaky"
    timeout = 1.0

    def __init__(self, inner: Any, poison: str) -> None:
        self.inner, self.poison = inner, poison

    def send(self, row: Any) -> Any:
        if row.key == self.poison:
            raise UnicodeEncodeError("ascii", "배", 0, 1, "an unexpected failure")
        return self.inner.send(row)

    def close(self) -> None:
        self.inner.close()


def test_an_unexpected_error_on_one_row_is_recorded_and_the_rest_delivered(
    store: AlertStore, receiver_factory
) -> None:
    from serving.alerts import WebhookChannel

    rx = receiver_factory()
    keys = enqueue(store, 10)
    channel = FlakyChannel(WebhookChannel(rx.url), poison=keys[0])
    with Sender(store, channel) as sender:
        assert sender.run_once(NOW) == 9
    poisoned = store.get(keys[0])
    assert poisoned is not None and poisoned.status == "parked"
    assert poisoned.last_error == "UnicodeEncodeError"
    assert {r["_key"] for r in rx.received} == set(keys[1:])


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
def test_two_senders_share_one_outbox_and_deliver_each_alert_once(
    store: AlertStore, db_url: str, receiver_factory, tmp_path: Path
) -> None:
    assert store.counts()["delivered"] == 0  # the outbox exists before the senders open it
    rx = receiver_factory(delay=0.005)
    log = tmp_path / "senders.log"
    procs = [sender_process(db_url, rx.url, log, "--batch", "20") for _ in range(2)]
    try:
        # Both up (stop handlers installed) before the alerts arrive: on a slow machine one
        # could otherwise deliver them all before the other had started, and die on SIGTERM.
        started = wait_until(lambda: log.read_text().count("delivering alerts") == 2, 120)
        assert started, log.read_text()
        keys = enqueue(store, 300)
        assert wait_until(lambda: store.counts()["delivered"] == 300, timeout=120), log.read_text()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        exits = [proc.wait(timeout=30) for proc in procs]  # every one reaped, then checked
    assert exits == [0, 0], log.read_text()
    received = rx.idempotency_keys()
    assert sorted(received) == sorted(keys)  # every alert, none twice


@pytest.mark.slow
def test_a_killed_sender_resends_only_its_unrecorded_batch(
    store: AlertStore, db_url: str, receiver_factory, tmp_path: Path
) -> None:
    keys = enqueue(store, 200)
    rx = receiver_factory(delay=0.02)
    log = tmp_path / "sender.log"
    options = ("--batch", "10", "--concurrency", "2", "--lease", "2")
    proc = sender_process(db_url, rx.url, log, *options)
    try:
        assert wait_until(lambda: len(rx.requests) >= 45, timeout=60), log.read_text()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    time.sleep(0.1)  # let the receiver finish the request it was answering
    delivered_before = {r.key for r in store.rows("delivered")}
    seen_before = len(rx.requests)
    assert 0 < len(delivered_before) < 200

    time.sleep(2.5)  # the killed sender's lease runs out
    for _ in range(5):
        if store.counts()["pending"] == 0:
            break
        assert sender_process(db_url, rx.url, log, "--once", *options).wait(timeout=60) == 0
    assert store.counts() == {"pending": 0, "delivered": 200, "parked": 0, "dead": 0}

    received = rx.idempotency_keys()
    assert set(received) == set(keys)
    assert not delivered_before & set(received[seen_before:])  # recorded rows never resent
    duplicates = len(received) - len(set(received))
    assert duplicates <= 10  # at most the batch whose record the kill interrupted


@pytest.mark.slow
def test_sigterm_stops_cleanly_after_the_batch_in_flight(
    store: AlertStore, db_url: str, receiver_factory, tmp_path: Path
) -> None:
    enqueue(store, 30)
    rx = receiver_factory(delay=0.1)
    log = tmp_path / "sender.log"
    proc = sender_process(db_url, rx.url, log, "--batch", "3", "--concurrency", "1")
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
    # A clean stop finishes and records the batch in flight: no resend needed.
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
