"""Channels: where an alert goes once it leaves the outbox.

A channel sends one outbox row and says how it went; the sender (serving/alerts/sender.py)
owns retries, back-off and the outbox marks. Channels are registered by the scheme of the
delivery URL in serving/alerts/registry.py, so a new channel (SMS gateway, message queue) is
one module with a class like `WebhookChannel` and one line there (docs/architecture.md has a
worked example).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import httpx

from serving.alerts.signing import key_of, sign
from serving.alerts.store import OutboxRow


@dataclass(frozen=True)
class Delivery:
    """How one send went.

    Attributes:
        ok: The receiver acknowledged it (the row is delivered).
        status: The receiver's status code, when it answered.
        error: What went wrong, in words safe to log (no URLs, no payloads).
        retry_after: Seconds the receiver asked to wait before the next attempt.
        retryable: Whether sending it again could succeed (False parks the row for review).
    """

    ok: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    retryable: bool = True


class Channel(Protocol):
    """Something an alert can be sent through."""

    name: str
    timeout: float

    def send(self, row: OutboxRow) -> Delivery:
        """Send one outbox row (its payload, exactly as enqueued)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class WebhookChannel:
    """POST each alert as JSON to a URL, with its idempotency key as a header.

    Args:
        url: Where to POST.
        token: Sent as `Authorization: Bearer <token>` when set.
        timeout: Seconds per request (connect, read, write).
        secret: Sign every delivery with it, as Standard Webhooks do (serving/alerts/signing.py).

    Raises:
        ValueError: A timeout that is not positive, or a secret not in the scheme's format.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 5.0,
        secret: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        if secret is not None:
            key_of(secret)  # fail at start, not at the first delivery
        self.url = url
        self.timeout = timeout
        self._secret = secret
        headers = {"content-type": "application/json; charset=utf-8"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.Client(timeout=timeout, headers=headers, follow_redirects=False)

    def send(self, row: OutboxRow) -> Delivery:
        """POST the row's payload; a 2xx is a delivery."""
        try:
            body = row.payload.encode("utf-8")
            response = self._client.post(self.url, content=body, headers=self._headers(row, body))
        except httpx.HTTPError as exc:
            # The type is enough to act on; messages may carry the webhook URL.
            return Delivery(False, error=type(exc).__name__)
        if response.is_success:
            return Delivery(True, status=response.status_code)
        return Delivery(
            False,
            status=response.status_code,
            error=f"HTTP {response.status_code}",
            retry_after=_retry_after(response),
        )

    def _headers(self, row: OutboxRow, body: bytes) -> dict[str, str]:
        headers = {"idempotency-key": row.key}
        if self._secret is not None:
            now = int(time.time())
            headers["webhook-id"] = row.key
            headers["webhook-timestamp"] = str(now)
            headers["webhook-signature"] = sign(self._secret, row.key, now, body)
        return headers

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP date; the backoff alone is good enough
