"""Deliver the alert outbox to a webhook, at least once.

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

Run as `python -m serving.notify --outbox URL --webhook URL [--once]`; the bearer token, if any,
comes from STALLGUARD_WEBHOOK_TOKEN (not a flag, which `ps` would show).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import httpx
import sqlalchemy as sa

from serving.alerts import AlertStore, OutboxRow

log = logging.getLogger("stallguard.notify")

TOKEN_ENV = "STALLGUARD_WEBHOOK_TOKEN"
# Retried although 4xx: the receiver timed out or asks to slow down, not rejecting the alert.
RETRYABLE_4XX = frozenset({408, 429})
# Rows fetched per query; a run keeps fetching until nothing new is due.
PAGE = 100


def shipment_hash(shipment_id: str) -> str:
    """A stable short pseudonym of a shipment id for logs (sha256, 12 hex digits)."""
    return hashlib.sha256(shipment_id.encode("utf-8")).hexdigest()[:12]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP date; the backoff alone is good enough


class Sender:
    """Delivers due outbox rows to a webhook (POST JSON) with retries.

    Args:
        store: The outbox.
        webhook_url: Where to POST each alert.
        token: Sent as `Authorization: Bearer <token>` when set.
        max_attempts: Attempts before a row goes dead.
        base_delay: Seconds before the first retry (before jitter).
        max_delay: Longest wait between attempts, in seconds.
        timeout: Seconds per HTTP request (connect, read, write).
        rng: Source of the jitter (seed it for reproducible delays).

    Raises:
        ValueError: A limit is out of range; the message names it.
    """

    def __init__(
        self,
        store: AlertStore,
        webhook_url: str,
        *,
        token: str | None = None,
        max_attempts: int = 8,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        timeout: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        if base_delay < 0:
            raise ValueError(f"base_delay must be non-negative, got {base_delay!r}")
        if max_delay < base_delay:
            raise ValueError(f"max_delay ({max_delay!r}) must be at least base_delay")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.store = store
        self.webhook_url = webhook_url
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.rng = rng if rng is not None else random.Random()
        headers = {"content-type": "application/json; charset=utf-8"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.Client(timeout=timeout, headers=headers, follow_redirects=False)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

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
        status: int | None = None
        retry_after: float | None = None
        try:
            response = self._client.post(
                self.webhook_url,
                content=row.payload.encode("utf-8"),
                headers={"idempotency-key": row.key},
            )
            status = response.status_code
            if response.is_success:
                self.store.mark_delivered(row.key, now if now is not None else _now())
                log.info(
                    "delivered kind=%s shipment=%s attempt=%d status=%d",
                    row.kind,
                    who,
                    row.attempts + 1,
                    status,
                )
                return True
            error = f"HTTP {status}"
            retry_after = _retry_after(response)
        except httpx.HTTPError as exc:
            # The type is enough to act on; messages may carry the webhook URL.
            error = type(exc).__name__
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


def _safe_url(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable URL>"


def _webhook_host(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}{f':{parsed.port}' if parsed.port else ''}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: deliver the outbox until SIGTERM/SIGINT (or once with --once).

    Returns:
        The exit status (0: stopped cleanly).
    """
    parser = argparse.ArgumentParser(
        prog="python -m serving.notify", description="Deliver pending alerts to a webhook."
    )
    parser.add_argument("--outbox", default="sqlite:///data/outbox.db", help="SQLAlchemy URL")
    parser.add_argument("--webhook", required=True, help="URL that receives the alerts")
    parser.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    parser.add_argument("--max-attempts", type=int, default=8)
    parser.add_argument("--base-delay", type=float, default=1.0, help="seconds")
    parser.add_argument("--max-delay", type=float, default=300.0, help="seconds")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between idle polls")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    store = AlertStore(args.outbox)
    try:
        sender = Sender(
            store,
            args.webhook,
            token=os.environ.get(TOKEN_ENV) or None,
            max_attempts=args.max_attempts,
            base_delay=args.base_delay,
            max_delay=args.max_delay,
            timeout=args.timeout,
        )
    except ValueError as err:
        parser.error(str(err))
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping after the delivery in flight", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    log.info(
        "delivering alerts from %s to %s%s",
        _safe_url(args.outbox),
        _webhook_host(args.webhook),
        " (once)" if args.once else "",
    )
    with sender:
        if args.once:
            delivered = sender.run_once(stop=stop)
            log.info("delivered %d", delivered)
        else:
            sender.run(stop, poll_s=args.poll)
    counts = store.counts()
    log.info(
        "stopped; outbox pending=%d delivered=%d dead=%d",
        counts["pending"],
        counts["delivered"],
        counts["dead"],
    )
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
