"""ASGI middleware in front of the API: bearer-token auth, one error shape, rejected counts."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.errors import error_body, normalized
from serving.metrics import counters
from serving.settings import Settings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

API_ROUTES = ("/predict", "/alerts", "/model")


class ApiGuard:
    """Check the token on the API routes, and give every 4xx there one body shape.

    BentoML's probes, metrics and the OpenAPI page stay open, so orchestrators need no
    token. The token is read when the server starts; without STALLGUARD_API_TOKEN the API
    is open.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self.token = Settings.load().secret("api_token")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse unauthorised calls; rewrite 4xx bodies into the one shape and count them."""
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in API_ROUTES:
            await self.app(scope, receive, send)
            return
        if self.token and not self._authorized(scope):
            await _send_error(send, path, 401, "missing or wrong bearer token")
            return
        await self.app(scope, receive, _ErrorRewriter(send, path))

    def _authorized(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        return hmac.compare_digest(given, f"Bearer {self.token}")


class _ErrorRewriter:
    """A `send` that buffers a 4xx answer's body and sends it in the one error shape."""

    def __init__(self, send: Send, path: str) -> None:
        self.send = send
        self.path = path
        self.start: MutableMapping[str, Any] | None = None
        self.body = bytearray()

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
            self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.body += message.get("body", b"")
        if message.get("more_body"):
            return
        status = self.start["status"]
        counters().rejected.labels(endpoint=self.path, status=str(status)).inc()
        body = normalized(status, bytes(self.body))
        headers = [
            (k, v)
            for k, v in self.start.get("headers", [])
            if k.lower() not in (b"content-length", b"content-type")
        ]
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, *_json_headers(body)],
            }
        )
        await self.send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, path: str, status: int, message: str) -> None:
    counters().rejected.labels(endpoint=path, status=str(status)).inc()
    body = error_body(status, message)
    headers = _json_headers(body)
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
