"""A local webhook receiver: what the demo, the tests and the benchmarks deliver alerts to."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as it arrived.

    Attributes:
        key: Its Idempotency-Key header.
        authorization: Its Authorization header.
        body: The JSON body.
        at: `time.monotonic()` on arrival.
        status: The status code it was answered with.
        headers: Every header, lower-cased names.
        raw: The body's bytes as they arrived (what a signature covers).
    """

    key: str | None
    authorization: str | None
    body: dict[str, Any]
    at: float
    status: int
    headers: dict[str, str]
    raw: bytes


class WebhookReceiver:
    """An HTTP endpoint on 127.0.0.1 that records every POST and answers as told.

    Args:
        statuses: Status codes to answer, in order, before `default` (e.g. (503, 503)).
        default: Status code once `statuses` are used up.
        delay: Seconds to wait before answering (a slow receiver).

    Every request is recorded on arrival, before it is answered: a request whose sender died
    waiting still counts.
    """

    def __init__(self, statuses: Iterable[int] = (), default: int = 200, delay: float = 0.0):
        self.plan = list(statuses)
        self.default = default
        self.delay = delay
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    status = receiver.plan.pop(0) if receiver.plan else receiver.default
                    receiver.requests.append(
                        Received(
                            self.headers.get("idempotency-key"),
                            self.headers.get("authorization"),
                            json.loads(body),
                            time.monotonic(),
                            status,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: whoever runs it prints what it received

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # concurrent senders connect at once

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a killed sender leaves broken pipes behind; expected

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    @property
    def received(self) -> list[dict[str, Any]]:
        """Bodies of the requests answered with a 2xx, in arrival order, key under `_key`."""
        with self._lock:
            return [{**r.body, "_key": r.key} for r in self.requests if 200 <= r.status < 300]

    def idempotency_keys(self) -> list[str | None]:
        """Idempotency keys of every request, in arrival order (failed ones too)."""
        with self._lock:
            return [r.key for r in self.requests]

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until `count` distinct keys were accepted; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len({r["_key"] for r in self.received}) >= count:
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
