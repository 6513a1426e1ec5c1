"""Deliver the alert outbox through a channel (a webhook by default), at least once.

A row is marked delivered only after a 2xx answer, and that mark is committed right after each
delivery, so a crash loses at most the acknowledgement of the one request in flight, which is
then sent again: receivers deduplicate on the `Idempotency-Key` header.

Failures (non-2xx, timeouts, connection errors) are retried with capped exponential backoff:
after the n-th failed attempt the row waits `min(max_delay, base_delay * 2**(n-1))` times a
uniform factor in [0.5, 1.0] ("equal jitter": the delay still grows every time, but senders
that failed together do not retry in lockstep). A numeric `Retry-After` header lengthens the
wait (never beyond `max_delay`). After `max_attempts` attempts the row is `dead`: kept, counted,
never deleted. A 4xx other than 408 (timeout) and 429 (rate limit) goes dead at once: the
receiver rejected the payload itself, and sending it again cannot change that.

Logs name a parcel only by a hash of its shipment id and never include payloads.

`stallguard notify` runs a sender as a worker; the service runs one in a thread when
STALLGUARD_WEBHOOK_URL is set (docs/serving.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import threading

from serving.alerts.channels import Channel
from serving.alerts.registry import channel_for
from serving.alerts.store import AlertStore, OutboxRow

log = logging.getLogger("stallguard.notify")

# Retried although 4xx: the receiver timed out or asks to slow down, not rejecting the alert.
RETRYABLE_4XX = frozenset({408, 429})
# Rows fetched per query; a run keeps fetching until nothing new is due.
PAGE = 100


def shipment_hash(shipment_id: str) -> str:
    """A stable short pseudonym of a shipment id for logs (sha256, 12 hex digits)."""
    return hashlib.sha256(shipment_id.encode("utf-8")).hexdigest()[:12]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Sender:
    """Delivers due outbox rows through a channel, with retries.

    Args:
        store: The outbox.
        channel: Where the alerts go (`Sender.for_url` picks it by URL).
        max_attempts: Attempts before a row goes dead.
        base_delay: Seconds before the first retry (before jitter).
        max_delay: Longest wait between attempts, in seconds.
        rng: Source of the jitter (seed it for reproducible delays).

    Raises:
        ValueError: A limit is out of range; the message names it.
    """

    def __init__(
        self,
        store: AlertStore,
        channel: Channel,
        *,
        max_attempts: int = 8,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        if base_delay < 0:
            raise ValueError(f"base_delay must be non-negative, got {base_delay!r}")
        if max_delay < base_delay:
            raise ValueError(f"max_delay ({max_delay!r}) must be at least base_delay")
        self.store = store
        self.channel = channel
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.rng = rng if rng is not None else random.Random()

    @classmethod
    def for_url(
        cls,
        store: AlertStore,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        **retries: object,
    ) -> Sender:
        """A sender through the channel registered for `url`'s scheme (a webhook for http).

        `retries`: the other arguments of `Sender`.

        Raises:
            ValueError: No channel for the URL's scheme.
        """
        return cls(store, channel_for(url, token, timeout), **retries)  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the channel's connections."""
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
        """Try every row due at `now` once.

        Args:
            now: Clock for due times, delivery marks and next attempts (tz-aware); None: the
                current time, read afresh for each row.
            stop: Ends the run before the next row once set (the row in flight completes).

        Returns:
            How many rows a 2xx acknowledged.
        """
        delivered = 0
        seen: set[str] = set()
        while stop is None or not stop.is_set():
            page = self.store.pending(now if now is not None else _now(), PAGE)
            # A row that failed with no delay is due again at once; it waits for the next run.
            rows = [row for row in page if row.key not in seen]
            if not rows:
                break
            for row in rows:
                if stop is not None and stop.is_set():
                    break
                seen.add(row.key)
                delivered += self._deliver(row, now)
        return delivered

    def _deliver(self, row: OutboxRow, now: dt.datetime | None) -> bool:
        who = shipment_hash(row.shipment_id)
        sent = self.channel.send(row)
        status, error, retry_after = sent.status, sent.error or "failed", sent.retry_after
        if sent.ok:
            self.store.mark_delivered(row.key, now if now is not None else _now())
            log.info(
                "delivered kind=%s shipment=%s attempt=%d status=%s",
                row.kind,
                who,
                row.attempts + 1,
                status,
            )
            return True
        attempts = row.attempts + 1
        rejected = status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX
        dead = rejected or attempts >= self.max_attempts
        delay = self.backoff(attempts)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        at = now if now is not None else _now()
        self.store.mark_failed(row.key, error, at + dt.timedelta(seconds=delay), dead=dead)
        if dead:
            log.warning(
                "dead kind=%s shipment=%s attempt=%d error=%s%s",
                row.kind,
                who,
                attempts,
                error,
                " (rejected)" if rejected else "",
            )
        else:
            log.info(
                "retry kind=%s shipment=%s attempt=%d error=%s next_in=%.1fs",
                row.kind,
                who,
                attempts,
                error,
                delay,
            )
        return False

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
                    "progress delivered=%d outbox pending=%d delivered=%d dead=%d",
                    delivered,
                    counts["pending"],
                    counts["delivered"],
                    counts["dead"],
                )
            else:
                stop.wait(poll_s)
