"""Start `bentoml serve` as a child process and wait until it is ready (demo, tests, bench)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    with service_process(env, port, log_file, ready_timeout, target) as (url, _):
        yield url


@contextmanager
def service_process(
    env: dict[str, str] | None = None,
    port: int = 0,
    log_file: Path | None = None,
    ready_timeout: float = 120.0,
    target: str = SERVICE,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like `running_service`, and the process too (its group id is its pid: kill to crash it).

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
        yield url, process
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


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the service and its workers at once (a crash: no shutdown hook runs).

    BentoML starts each worker in a session of its own, so killing the server's group alone
    would leave the worker serving on the inherited socket.
    """
    import psutil

    workers = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGKILL)
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.kill()
    process.wait(timeout=10)
    psutil.wait_procs(workers, timeout=10)


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
