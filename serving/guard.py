"""ASGI middleware in front of the service: what reaches BentoML, and how it is answered.

- Only known routes are served; any other path is a 404 here, so random paths cannot grow
  the metrics (every series is labelled by a known route).
- The API routes need the bearer token (when one is set; the scheme is case-insensitive), a
  JSON body, and at most STALLGUARD_MAX_BODY_BYTES of it, read and counted before anything
  parses it.
- The pages (`/ops`, `/track/{id}`) need the same token, from a signed-in browser's session
  cookie (serving/pages/session.py) or the bearer header; a browser without one is sent to
  `/login`.
- Every 4xx of the API has one body shape (serving/errors.py).
- Each request is counted and timed by route and status, and logged as one access line
  (method, route, status, milliseconds: never a query string, body or header).

Probes (`/healthz`, `/livez`, `/readyz`), `/metrics`, the OpenAPI page and the pages'
stylesheet and script stay open, so an orchestrator and a Prometheus scraper need no token;
they expose no parcel data.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from serving.errors import error_body, normalized
from serving.metrics import counters
from serving.pages.session import signed_in
from serving.settings import Settings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

API_ROUTES = (
    "/predict",
    "/alerts",
    "/model",
    "/shipments",
    "/events",
    "/weather",
    "/network",
    "/watch",
    "/at-risk",
    "/monitoring",
)
# The pages for people (serving/pages/): the token by sign-in cookie or bearer header.
PAGE_ROUTES = ("/ops", "/ops/pass", "/ops/monitoring", "/track", "/login")
# Routes with a path parameter: (prefix, the route's label).
PARAM_ROUTES = (("/shipments/", "/shipments/{id}"), ("/track/", "/track/{id}"))
# What needs the token (and a checked body when posted).
PROTECTED = frozenset(API_ROUTES) | {"/shipments/{id}"}
# Pages that need a signed-in browser (or the bearer token); /login does not.
PAGES = frozenset({"/ops", "/ops/pass", "/ops/monitoring", "/track", "/track/{id}"})
LOGIN_MAX_BYTES = 4096
OPEN_ROUTES = ("/", "/docs", "/docs.json", "/healthz", "/livez", "/readyz", "/metrics")
# BentoML's client (bentoml.SyncHTTPClient) reads the API list here.
CLIENT_ROUTES = ("/schema.json",)
ASSET_PREFIX = "/docs/assets/"
STATIC_PREFIX = "/static/"  # the pages' stylesheet and script

access = logging.getLogger("stallguard.access")


def route_of(path: str) -> str | None:
    """The known route a path belongs to (the metrics label), or None."""
    if path in API_ROUTES or path in OPEN_ROUTES or path in CLIENT_ROUTES or path in PAGE_ROUTES:
        return path
    for prefix in (ASSET_PREFIX, STATIC_PREFIX):
        if path.startswith(prefix):
            return prefix
    for prefix, label in PARAM_ROUTES:
        if path.startswith(prefix) and "/" not in path[len(prefix) :]:
            return label
    return None


class ApiGuard:
    """The middleware; settings are read when the server starts."""

    def __init__(self, app: App) -> None:
        self.app = app
        settings = Settings.load()
        self.token = settings.secret("api_token")
        self.max_body = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route, check and answer one request (see the module docstring)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = route_of(scope.get("path", ""))
        timed = _Timed(send)
        try:
            await self._handle(route, scope, receive, timed)
        finally:
            label = route or "other"
            seconds = time.perf_counter() - started
            counters().requests.labels(route=label, status=str(timed.status)).inc()
            counters().latency.labels(route=label).observe(seconds)
            access.info(
                "%s %s %s %.1fms", scope.get("method", "-"), label, timed.status, seconds * 1000
            )

    async def _handle(self, route: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        if route is None:
            await _send_error(send, 404, "no such route; the API is described at /")
            return
        headers = {k.lower(): v for k, v in scope.get("headers") or []}
        if route in PAGES or route == "/login":
            await self._page(route, scope, receive, send, headers)
            return
        if route not in PROTECTED:
            await self.app(scope, receive, send)
            return
        if self.token and not self._authorized(headers):
            await _send_error(send, 401, "missing or wrong bearer token", bearer=True)
            return
        if scope.get("method") == "POST":
            problem = self._body_problem(headers)
            if problem is not None:
                await _send_error(send, *problem)
                return
            body = await _read_body(receive, self.max_body)
            if body is None:
                await _send_error(send, 413, self._too_large())
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, _ErrorRewriter(send))

    async def _page(
        self, route: str, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        """A page: signed in (cookie or bearer), or sent to sign in; the sign-in form capped."""
        if route == "/login":
            length = headers.get(b"content-length", b"0")
            if not length.isdigit() or int(length) > LOGIN_MAX_BYTES:
                await _send_error(send, 413, "the sign-in form is too large")
                return
        elif self.token and not self._signed_in(headers):
            if route == "/ops/pass":
                await _send_error(send, 401, "sign in at /login", bearer=True)
                return
            path = scope.get("path", "/ops")
            query = scope.get("query_string", b"").decode("latin-1")
            target = quote(f"{path}?{query}" if query else path, safe="")
            await _redirect(send, f"/login?next={target}")
            return
        await self.app(scope, receive, send)

    def _signed_in(self, headers: dict[bytes, bytes]) -> bool:
        cookie = headers.get(b"cookie", b"").decode("latin-1")
        return self._authorized(headers) or signed_in(cookie, self.token or "")

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, given = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        expected = (self.token or "").encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    def _body_problem(self, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media != b"application/json":
            return 415, "the body must be JSON (content-type: application/json)"
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return 413, self._too_large()
        return None

    def _too_large(self) -> str:
        return (
            f"the body is larger than {self.max_body:,} bytes (STALLGUARD_MAX_BODY_BYTES): "
            "split the batch"
        )


async def _redirect(send: Send, location: str) -> None:
    """A 303 to `location` (a page's sign-in)."""
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes `limit` bytes."""
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(chunks)  # the client went away; the app will see the same
        chunks += message.get("body", b"")
        if len(chunks) > limit:
            return None
        if not message.get("more_body"):
            return bytes(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body already read, then what the client sends."""
    given = False

    async def replayed() -> MutableMapping[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class _Timed:
    """A `send` that remembers the status it answered."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


class _ErrorRewriter:
    """A `send` that buffers a 4xx answer's body and sends it in the one error shape."""

    def __init__(self, send: Send) -> None:
        self.send = send
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


async def _send_error(send: Send, status: int, message: str, bearer: bool = False) -> None:
    body = error_body(status, message)
    headers = _json_headers(body)
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
