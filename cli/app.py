"""`stallguard`: the data, model and serve groups, composed into one command."""

from __future__ import annotations

import os

import typer

from cli import data, model, monitor, outbox, replay, serve, watch

app = typer.Typer(
    help="Stallguard: predict which parcels will miss their promise, and why.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Stallguard: predict which parcels will miss their promise, and why."""
    # MLflow draws a progress bar for every artifact it reads back; the commands have their own.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


for group in (data.app, model.app, serve.app, watch.app, replay.app, monitor.app):
    app.add_typer(group)
app.add_typer(outbox.app, name="outbox", rich_help_panel=serve.PANEL)
