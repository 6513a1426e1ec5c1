"""A replay through a real `bentoml serve`, killed (SIGKILL) mid-way and restarted: nothing
ingested is lost, every alert reaches a receiver that verifies its signature, and the alerts
are exactly those of a replay that never crashed."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pandas as pd
import pytest
from standardwebhooks.webhooks import Webhook

from cli.demo.processes import kill, service_process
from cli.demo.receiver import WebhookReceiver
from serving.alerts import AlertPolicy, AlertStore
from serving.alerts.signing import new_secret
from serving.messages import MessageBook
from serving.watch.replay import Replay, run_replay
from serving.watch.store import StateStore
from serving.watch.targets import HttpTarget, LocalTarget
from serving.watch.watcher import Watcher

pytestmark = [pytest.mark.serving, pytest.mark.slow]

TOKEN = "replay-token"
EVERY = pd.Timedelta(hours=4)
KILL_AFTER_PASS = 5


@pytest.fixture(scope="module")
def replay(small_data) -> Replay:
    return Replay(
        small_data.tables, small_data.now - pd.Timedelta(days=5), 3, EVERY, history_days=21
    )


@pytest.fixture(scope="module")
def uninterrupted(replay, champion, serving_tracking, tmp_path_factory):
    """The same replay in process on the served champion, never interrupted: its alerts."""
    from serving.model_source import load_served_model

    served = load_served_model("models:/stallguard@champion", serving_tracking)
    root = tmp_path_factory.mktemp("uninterrupted")
    store = StateStore(f"sqlite:///{root / 'state.db'}", "k", replay.tables.locale)
    outbox = AlertStore(f"sqlite:///{root / 'outbox.db'}")
    book = MessageBook(timezone=replay.tables.locale.timezone)
    watcher = Watcher(store, served.predictor, served.label, outbox, AlertPolicy(), book)
    run_replay(replay, LocalTarget(store, watcher))
    return {r.key: r.kind for r in outbox.rows()}


def test_a_crash_mid_replay_loses_nothing_and_alerts_once(
    replay, uninterrupted, serving_env, tmp_path, small_data
):
    secret = new_secret()
    with WebhookReceiver() as rx:
        env = {
            **serving_env,
            "STALLGUARD_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "STALLGUARD_OUTBOX_URL": f"sqlite:///{tmp_path / 'outbox.db'}",
            "STALLGUARD_API_TOKEN": TOKEN,
            "STALLGUARD_WATCH_EVERY": "0",
            "STALLGUARD_PII_KEY": "replay-key",
            "STALLGUARD_WEBHOOK_URL": rx.url,
            "STALLGUARD_WEBHOOK_SECRET": secret,
        }
        with service_process(env, log_file=tmp_path / "first.log") as (url, process):
            target = HttpTarget(url, TOKEN)

            def crash_soon(step, summary) -> None:
                # Killed while the next step is being ingested or watched, not between calls.
                if summary.passes == KILL_AFTER_PASS:
                    threading.Timer(0.15, kill, args=(process,)).start()

            with pytest.raises((httpx.HTTPError, RuntimeError)):
                run_replay(replay, target, on_step=crash_soon)
            target.close()
        assert process.returncode is not None  # it really died

        with service_process(env, log_file=tmp_path / "second.log") as (url, _):
            target = HttpTarget(url, TOKEN)
            watched = target.watched_as_of()
            assert watched is not None and watched >= replay.start + KILL_AFTER_PASS * EVERY
            rest = replay.resumed(watched)
            summary = run_replay(rest, target)
            target.close()
            outbox = AlertStore(env["STALLGUARD_OUTBOX_URL"])
            deadline = time.monotonic() + 60
            while outbox.counts()["pending"] and time.monotonic() < deadline:
                time.sleep(0.2)
            counts = outbox.counts()
            keys = {r.key: r.kind for r in outbox.rows()}
        received = list(rx.requests)

    # Resuming re-sent everything before the crash: the service already held it.
    assert summary.statuses[("scan_events", "duplicate")] > 0
    assert summary.statuses[("scan_events", "rejected")] == 0
    state = StateStore(env["STALLGUARD_STATE_URL"], "replay-key", replay.tables.locale)
    window = [replay.history(), *(s.batch for s in replay.live())]
    sent = pd.concat([b.events for b in window])
    assert state.counts()["scan_events"] == len(sent)  # nothing lost, nothing twice
    assert (
        state.counts()["shipments"]
        == pd.concat([b.shipments for b in window])["shipment_id"].nunique()
    )
    # The alerts are those of the replay that never crashed, each delivered and verified.
    assert keys == uninterrupted and len(keys) > 0
    assert counts["pending"] == counts["dead"] == counts["parked"] == 0
    verifier = Webhook(secret)
    for request in received:
        envelope = verifier.verify(request.raw, request.headers)
        assert envelope["data"]["key"] == request.key
    times = Counter(r.key for r in received)
    assert set(times) == set(keys)
    # At least once: only a delivery cut by the crash may arrive again, with the same key.
    assert sum(n - 1 for n in times.values()) <= 50
