"""Deliver the alert outbox through a channel (a webhook by default), at least once.

Any number of senders (the service's thread, `stallguard notify` workers) share one outbox:
each claims a batch of due rows with a lease (serving/alerts/store.py), sends them
concurrently (at most `concurrency` at a time), and records the whole batch in one
transaction. A row is marked delivered only after a 2xx. A sender that dies mid-batch loses
only the acknowledgements of that batch: its lease runs out and the rows are sent again, with
the same `Idempotency-Key` for the receiver to drop.

Failures (non-2xx, timeouts, connection errors) are retried with capped exponential backoff:
after the n-th failed attempt the row waits `min(max_delay, base_delay * 2**(n-1))` times a
uniform factor in [0.5, 1.0] ("equal jitter": the delay still grows, but senders that failed
together do not retry in lockstep). A numeric `Retry-After` lengthens the wait (never beyond
`max_delay`). A row whose next attempt would fall after `horizon` from when it was queued is
`dead`. A 4xx other than 408 (timeout) and 429 (rate limit) is `parked`: the receiver refused
the alert itself (a rotated token, a wrong path), which no retry can fix but a person can;
`stallguard outbox retry` re-queues parked and dead rows. An error sending one row (whatever
it is) is recorded on that row and never stops the others. docs/serving.md has the schedule.

Logs name a parcel only by a hash of its shipment id and never include payloads or URLs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import random
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from serving.alerts.channels import Channel, Delivery
from serving.alerts.registry import channel_for
from serving.alerts.store import DEAD, DELIVERED, PARKED, PENDING, AlertStore, OutboxRow, Outcome

log = logging.getLogger("stallguard.notify")

# Retried although 4xx: the receiver timed out or asks to slow down, not rejecting the alert.
RETRYABLE_4XX = frozenset({408, 429})


def shipment_hash(shipment_id: str) -> str:
    """A stable short pseudonym of a shipment id for logs (sha256, 12 hex digits)."""
    return hashlib.sha256(shipment_id.encode("utf-8")).hexdigest()[:12]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sender_id() -> str:
    """Who holds a lease: host, process and a random part (two senders never share one)."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Sender:
    """Delivers due outbox rows through a channel, with retries, sharing the outbox safely.

    Args:
        store: The outbox.
        channel: Where the alerts go (`Sender.for_url` picks it by URL).
        base_delay: Seconds before the first retry (before jitter).
        max_delay: Longest wait between attempts, in seconds.
        horizon: Seconds from queueing after which a failing row is dead.
        batch: Rows claimed, sent and recorded together.
        concurrency: Most requests in flight at once.
        lease: Seconds a claimed batch stays reserved for this sender; must outlast a batch
            (default: twice the slowest batch the channel's timeout allows).
        rng: Source of the jitter (seed it for reproducible delays).

    Raises:
        ValueError: A limit is out of range; the message names it.
    """

    def __init__(
        self,
        store: AlertStore,
        channel: Channel,
        *,
        base_delay: float = 2.0,
        max_delay: float = 900.0,
        horizon: float = 24 * 3600.0,
        batch: int = 50,
        concurrency: int = 8,
        lease: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if base_delay < 0:
            raise ValueError(f"base_delay must be non-negative, got {base_delay!r}")
        if max_delay < base_delay:
            raise ValueError(f"max_delay ({max_delay!r}) must be at least base_delay")
        if horizon <= 0:
            raise ValueError(f"horizon must be positive, got {horizon!r}")
        if batch < 1 or concurrency < 1:
            raise ValueError(
                f"batch and concurrency must be at least 1, got {batch}, {concurrency}"
            )
        self.store = store
        self.channel = channel
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.horizon = dt.timedelta(seconds=horizon)
        self.batch = batch
        self.concurrency = concurrency
        rounds = -(-batch // concurrency)  # requests in a row, at most, per batch
        self.lease = lease if lease is not None else 2 * channel.timeout * rounds + 10
        self.rng = rng if rng is not None else random.Random()
        self.owner = _sender_id()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="deliver")

    @classmethod
    def for_url(
        cls,
        store: AlertStore,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        secret: str | None = None,
        **options: object,
    ) -> Sender:
        """A sender through the channel registered for `url`'s scheme (a webhook for http).

        `secret` signs every delivery (Standard Webhooks); `options`: the other arguments of
        `Sender`.

        Raises:
            ValueError: No channel for the URL's scheme, or a malformed secret.
        """
        channel = channel_for(url, token, timeout, secret)
        return cls(store, channel, **options)  # type: ignore[arg-type]

    def close(self) -> None:
        """Wait for requests in flight, then close the channel's connections."""
        self._pool.shutdown(wait=True)
        self.channel.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1 = the first), jittered.

        `min(max_delay, base_delay * 2**(attempts-1))` times a uniform factor in [0.5, 1.0].
        """
        exponent = min(max(attempts - 1, 0), 62)  # 2**62 * any delay is past every max_delay
        capped = min(self.max_delay, self.base_delay * 2.0**exponent)
        return capped * self.rng.uniform(0.5, 1.0)

    def run_once(
        self, now: dt.datetime | None = None, *, stop: threading.Event | None = None
    ) -> int:
        """Claim and send batches until nothing is due at `now`.

        Args:
            now: Clock for due times, leases, marks and next attempts (tz-aware); None: the
                current time, read afresh for each batch.
            stop: Ends the run before the next batch once set (the batch in flight completes
                and is recorded).

        Returns:
            How many rows a 2xx acknowledged.
        """
        delivered = 0
        while stop is None or not stop.is_set():
            at = now if now is not None else _now()
            rows = self.store.claim(self.owner, at, self.batch, self.lease)
            if not rows:
                break
            outcomes = list(self._pool.map(lambda row: self._attempt(row, now), rows))
            self.store.record(self.owner, outcomes)
            delivered += sum(o.status == DELIVERED for o in outcomes)
            if now is not None:
                # A fixed clock: rows retried with no delay would be due again at once.
                break
        return delivered

    def _attempt(self, row: OutboxRow, now: dt.datetime | None) -> Outcome:
        try:
            sent = self.channel.send(row)
        except Exception as exc:  # one bad row must never stop the queue behind it
            sent = Delivery(False, error=type(exc).__name__, retryable=False)
        at = now if now is not None else _now()
        outcome = self._judge(row, sent, at)
        self._log(row, sent, outcome)
        return outcome

    def _judge(self, row: OutboxRow, sent: Delivery, at: dt.datetime) -> Outcome:
        if sent.ok:
            return Outcome(row.key, DELIVERED, at)
        error = sent.error or "failed"
        status = sent.status
        refused = not sent.retryable or (
            status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX
        )
        if refused:
            return Outcome(row.key, PARKED, at, error, at)
        delay = self.backoff(row.attempts + 1)
        if sent.retry_after is not None:
            delay = max(delay, min(sent.retry_after, self.max_delay))
        due = at + dt.timedelta(seconds=delay)
        if due > row.queued_at + self.horizon:
            return Outcome(row.key, DEAD, at, error, at)
        return Outcome(row.key, PENDING, at, error, due)

    def _log(self, row: OutboxRow, sent: Delivery, outcome: Outcome) -> None:
        who = shipment_hash(row.shipment_id)
        attempt = row.attempts + 1
        if outcome.status == DELIVERED:
            log.info(
                "delivered kind=%s shipment=%s attempt=%d status=%s",
                row.kind,
                who,
                attempt,
                sent.status,
            )
        elif outcome.status == PENDING:
            wait = (outcome.next_attempt_at or outcome.at) - outcome.at
            log.info(
                "retry kind=%s shipment=%s attempt=%d error=%s next_in=%.1fs",
                row.kind,
                who,
                attempt,
                outcome.error,
                wait.total_seconds(),
            )
        else:
            log.warning(
                "%s kind=%s shipment=%s attempt=%d error=%s",
                outcome.status,
                row.kind,
                who,
                attempt,
                outcome.error,
            )

    def run(self, stop: threading.Event, poll_s: float = 0.5) -> None:
        """Deliver until `stop` is set, polling the outbox every `poll_s` seconds when idle.

        Errors of one round (e.g. the database locked too long) are logged and retried at the
        next poll rather than ending the loop.
        """
        while not stop.is_set():
            try:
                delivered = self.run_once(stop=stop)
            except Exception as exc:  # keep the sender alive; the outbox keeps the work
                log.error(
                    "delivery round failed: %s; retrying in %.1fs", type(exc).__name__, poll_s
                )
                delivered = 0
            if delivered:
                counts = self.store.counts()
                log.info(
                    "progress delivered=%d outbox %s",
                    delivered,
                    " ".join(f"{k}={v}" for k, v in counts.items()),
                )
            else:
                stop.wait(poll_s)
