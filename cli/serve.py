"""Serving commands: pack a Bento, deliver alerts, run the demo against the real service."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from cli.render import console, fail
from cli.settings import load_settings, redact

app = typer.Typer()
PANEL = "Serve"


@app.command("bento", rich_help_panel=PANEL)
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
    settings = load_settings()
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    from serving.bento import build_bento
    from serving.model_source import ModelNotFound

    try:
        with console.status(f"packing {model}"):
            bento_tag, model_tag = build_bento(model, bentofile, settings.tracking(), context_dir)
    except (ModelNotFound, FileNotFoundError) as err:
        fail(err)
    console.print(f"[green]Built[/] Bento {bento_tag} with model {model_tag}")
    console.print(f"  serve it: bentoml serve {bento_tag}")
    console.print(f"  image:    bentoml containerize {bento_tag}")


@app.command("notify", rich_help_panel=PANEL)
def notify_command(
    webhook: Annotated[
        str | None,
        typer.Option(help="URL that receives the alerts (default: STALLGUARD_WEBHOOK_URL)."),
    ] = None,
    outbox: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL of the outbox (default: STALLGUARD_OUTBOX_URL)."),
    ] = None,
    once: Annotated[bool, typer.Option(help="Deliver what is due once, then exit.")] = False,
    batch: Annotated[
        int, typer.Option(min=1, max=1000, help="Alerts claimed and recorded together.")
    ] = 50,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Most deliveries in flight at once.")
    ] = 8,
    lease: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Seconds a claimed batch stays reserved (default: twice the slowest batch "
            "the 5 s timeout allows). A sender that dies holds its batch this long.",
        ),
    ] = None,
) -> None:
    """Deliver pending alerts from the outbox to the webhook until stopped (Ctrl-C / SIGTERM).

    The bearer token sent to the webhook comes from STALLGUARD_WEBHOOK_TOKEN (a flag would
    show in `ps`).
    """
    settings = load_settings()
    url = webhook or settings.secret("webhook_url")
    if not url:
        fail("no webhook to deliver to: pass --webhook URL or set STALLGUARD_WEBHOOK_URL")
    database = outbox or settings.secret("outbox_url") or ""
    require_outbox(database)
    import logging

    from serving.alerts import AlertStore, Sender

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    store = AlertStore(database)
    try:
        sender = Sender.for_url(
            store,
            url,
            token=settings.secret("webhook_token"),
            secret=settings.secret("webhook_secret"),
            batch=batch,
            concurrency=concurrency,
            lease=lease,
        )
    except ValueError as err:
        fail(err)
    where = f"from {redact(database)} to {redact(url)}"
    if once:
        delivered = sender.run_once()
        console.print(f"delivered {delivered} {where}; outbox: {store.counts()}")
        return
    stop = threading.Event()
    log = logging.getLogger("stallguard.notify")

    def stopping(signum: int, _frame: object) -> None:
        log.info("%s: stopping after the delivery in flight", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stopping)
    console.print(f"delivering alerts {where} (Ctrl-C stops)")
    with sender:
        sender.run(stop)
    counts = store.counts()
    console.print("stopped; outbox " + " ".join(f"{k}={v}" for k, v in counts.items()))


def require_outbox(url: str) -> None:
    """A SQLite outbox that does not exist is a wrong path, not an empty queue."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            fail(
                f"no outbox at {path}: nothing has queued alerts there (check "
                "STALLGUARD_OUTBOX_URL or --outbox, the service's outbox)"
            )


@app.command("serve-demo", rich_help_panel=PANEL)
def serve_demo_command(
    data: Annotated[Path, typer.Option(help="Tables directory to pick parcels from.")] = Path(
        "data/simulated"
    ),
    parcels: Annotated[
        int, typer.Option(min=1, max=50, help="Parcels of the at-risk list to show.")
    ] = 10,
    port: Annotated[int, typer.Option(help="Port for the service (0: a free one).")] = 0,
) -> None:
    """Serve the champion, replay the data's last days into it live, show what it knows."""
    load_settings()
    from cli.demo.run import run_demo

    try:
        run_demo(data, parcels, port, console)
    except (RuntimeError, FileNotFoundError) as err:
        fail(err)
