"""The `stallguard` command: training's commands plus serving's (bento, notify, serve-demo)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from training.cli import app, console, fail

__all__ = ["app"]


@app.command("bento")
def bento_command(
    model: Annotated[str, typer.Option(help="Model to pack (MLflow URI or bundle folder).")] = (
        "models:/stallguard@champion"
    ),
    context_dir: Annotated[
        Path | None, typer.Option(help="Pack this serving context instead of the bundled one.")
    ] = None,
    bentofile: Annotated[Path, typer.Option(help="Build file.")] = Path("bentofile.yaml"),
) -> None:
    """Build a Bento that carries MODEL, for deployment without the registry (no network)."""
    from serving.bento import build_bento
    from serving.model_source import ModelNotFound

    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    try:
        with console.status(f"packing {model}"):
            bento_tag, model_tag = build_bento(model, bentofile, context_dir)
    except (ModelNotFound, FileNotFoundError) as err:
        fail(err)
    console.print(f"[green]Built[/] Bento {bento_tag} with model {model_tag}")
    console.print(f"  serve it: bentoml serve {bento_tag}")
    console.print(f"  image:    bentoml containerize {bento_tag}")


@app.command("notify")
def notify_command(
    webhook: Annotated[str, typer.Option(help="URL that receives the alerts (POST JSON).")],
    outbox: Annotated[str, typer.Option(help="SQLAlchemy URL of the outbox.")] = (
        "sqlite:///data/outbox.db"
    ),
    once: Annotated[bool, typer.Option(help="Deliver what is due once, then exit.")] = False,
) -> None:
    """Deliver pending alerts from the outbox to WEBHOOK until stopped (Ctrl-C / SIGTERM)."""
    from serving.alerts import AlertStore
    from serving.notify import Sender

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    store = AlertStore(outbox)
    sender = Sender(store, webhook, token=os.environ.get("STALLGUARD_WEBHOOK_TOKEN") or None)
    if once:
        delivered = sender.run_once()
        console.print(f"delivered {delivered}; outbox: {store.counts()}")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"delivering alerts from {outbox} to {webhook} (Ctrl-C stops)")
    sender.run(stop)
    console.print(f"stopped; outbox: {store.counts()}")


@app.command("serve-demo")
def serve_demo_command(
    data: Annotated[Path, typer.Option(help="Tables directory to pick parcels from.")] = Path(
        "data/simulated"
    ),
    parcels: Annotated[int, typer.Option(min=1, max=50, help="Parcels to ask about.")] = 5,
    port: Annotated[int, typer.Option(help="Port for the service (0: a free one).")] = 0,
) -> None:
    """Start the service on the champion, ask it about parcels in flight, show the alerts."""
    from serving.demo import run_demo

    try:
        run_demo(data, parcels, port, console)
    except (RuntimeError, FileNotFoundError) as err:
        fail(err)
