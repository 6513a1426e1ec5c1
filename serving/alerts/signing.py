"""Signed deliveries, following the Standard Webhooks scheme (https://www.standardwebhooks.com).

Each delivery carries `webhook-id` (the alert's idempotency key), `webhook-timestamp` (Unix
seconds) and `webhook-signature`: `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body` with
the shared secret. The secret is `whsec_` + base64 of at least 24 random bytes
(STALLGUARD_WEBHOOK_SECRET); `new_secret` makes one. A receiver verifies with any Standard
Webhooks library, or by hand (docs/serving.md has the snippet), and rejects timestamps more
than a few minutes off, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def key_of(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret.

    Raises:
        ValueError: Not a Standard Webhooks secret (the message never shows it).
    """
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a Standard Webhooks secret: whsec_ + base64 bytes") from None
    if len(key) < 24:
        raise ValueError("the webhook secret is too short: use at least 24 random bytes")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header of a delivery."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def new_secret() -> str:
    """A fresh random secret, in the scheme's format."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
