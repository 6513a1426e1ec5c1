"""The outbox on a real PostgreSQL server: migrations, SKIP LOCKED leases, two senders."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import sqlalchemy as sa
from support.alerts import queue_late

from cli.demo.receiver import WebhookReceiver
from serving.alerts import AlertStore, Sender

pytestmark = [pytest.mark.serving, pytest.mark.postgres]

NOW = pd.Timestamp("2025-12-12T00:00:00Z")
PROMISED = pd.Timestamp("2025-12-13T09:00:00Z")


def enqueue(store: AlertStore, n: int, now: pd.Timestamp = NOW) -> list[str]:
    return queue_late(store, (f"PG-{i:05d}" for i in range(n)), PROMISED, now)


def test_the_schema_is_migrated_and_decisions_are_idempotent(postgres_db):
    with AlertStore(postgres_db) as store:
        keys = enqueue(store, 5)
        assert len(keys) == 5 and enqueue(store, 5) == []
        tables = set(sa.inspect(store.engine).get_table_names())
    assert {"alert_state", "outbox", "alert_schema_version"} <= tables
    with AlertStore(postgres_db) as again:  # a second start finds the head: nothing to do
        assert again.counts()["pending"] == 5


def test_concurrent_claims_never_share_a_row(postgres_db):
    with AlertStore(postgres_db) as store:
        enqueue(store, 400)
    claimed: dict[str, list[str]] = {}

    def claim(owner: str) -> None:
        with AlertStore(postgres_db) as mine:
            got: list[str] = []
            while rows := mine.claim(owner, NOW, limit=7, lease_s=300):
                got.extend(r.key for r in rows)
            claimed[owner] = got

    threads = [threading.Thread(target=claim, args=(f"sender-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [k for keys in claimed.values() for k in keys]
    assert len(every) == len(set(every)) == 400
    assert sum(1 for keys in claimed.values() if keys) >= 2  # they really did share the work


def test_two_senders_deliver_each_alert_once(postgres_db):
    with AlertStore(postgres_db) as store:
        keys = enqueue(store, 300, pd.Timestamp.now(tz="UTC"))  # the senders run on the clock
    with WebhookReceiver(delay=0.002) as rx:
        stores = [AlertStore(postgres_db) for _ in range(2)]
        senders = [Sender.for_url(s, rx.url, batch=20) for s in stores]
        threads = [threading.Thread(target=s.run_once) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for sender, store in zip(senders, stores, strict=True):
            sender.close()
            store.close()
        received = rx.idempotency_keys()
    assert sorted(received) == sorted(keys)
    with AlertStore(postgres_db) as store:
        assert store.counts()["delivered"] == 300
