"""Start `bentoml serve` as a child process, and a local webhook receiver (demo, tests, bench)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

SERVICE = "serving.service:Stallguard"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_service(
    env: dict[str, str] | None = None,
    port: int = 0,
    log_file: Path | None = None,
    ready_timeout: float = 120.0,
    target: str = SERVICE,
) -> Iterator[str]:
    """Run `bentoml serve TARGET` until the block ends; yield its base URL once ready.

    Raises:
        RuntimeError: The service exited or did not become ready; the message has its log tail.
    """
    port = port or free_port()
    bentoml = Path(sys.executable).with_name("bentoml")
    full_env = {**os.environ, "BENTOML_DO_NOT_TRACK": "True", **(env or {})}
    out = open(log_file, "w") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [str(bentoml), "serve", target, "--port", str(port), "--host", "127.0.0.1"],
        env=full_env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # one signal stops the server and its workers
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, ready_timeout, log_file)
        yield url
    finally:
        _stop(process)
        if log_file:
            out.close()  # type: ignore[union-attr]


def _wait_ready(
    process: subprocess.Popen[bytes], url: str, timeout: float, log_file: Path | None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the service exited with code {process.returncode}{_tail(log_file)}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the service was not ready after {timeout:.0f} s{_tail(log_file)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _tail(log_file: Path | None, lines: int = 25) -> str:
    if log_file is None or not log_file.exists():
        return ""
    text = log_file.read_text(errors="replace").splitlines()[-lines:]
    return ":\n" + "\n".join(text)


class WebhookReceiver:
    """A local HTTP endpoint that records the JSON it receives (answers 200, or 503 at first).

    Attributes:
        received: Bodies in arrival order, with the Idempotency-Key header under `_key`.
        fail_first: Answer 503 to this many requests before accepting any.
    """

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.requests += 1
                    failing = receiver.requests <= receiver.fail_first
                    if not failing:
                        record = json.loads(body)
                        record["_key"] = self.headers.get("idempotency-key")
                        receiver.received.append(record)
                self.send_response(503 if failing else 200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the demo prints what it received

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until `count` distinct keys arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len({r["_key"] for r in self.received}) >= count:
                    return True
            time.sleep(0.1)
        return False
