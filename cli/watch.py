"""The live watch from the command line: bulk ingest, and a watcher pass on demand.

Both use the same state store as the service (STALLGUARD_STATE_URL) and, for a pass, the
same model (STALLGUARD_MODEL_URI) and outbox (STALLGUARD_OUTBOX_URL); a pass never overlaps
one the service or another command is running.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import AsOfOption, EngineOption, SchedulerOption, WorkersOption
from cli.render import console, fail, print_table, progress, report_rejections
from cli.settings import load_settings, redact

if TYPE_CHECKING:
    from rich.progress import TaskID

    from contract.locale import Locale
    from serving.alerts import AlertStore
    from serving.model_source import ServedModel
    from serving.watch.store import StateStore
    from serving.watch.watcher import Scorer, Watcher

app = typer.Typer()
PANEL = "Watch"


@app.command("ingest", rich_help_panel=PANEL)
def ingest_command(
    data: Annotated[
        Path, typer.Argument(help="A canonical Tables directory (simulate's or a source's).")
    ],
) -> None:
    """Load a Tables directory into the watch's state store, row by row checked and reported."""
    settings = load_settings()
    from contract.tables import Tables
    from serving.watch.ingest import ingest_tables
    from serving.watch.store import StateStore

    try:
        tables = Tables.read(data, conform_frames=False)
    except FileNotFoundError as err:
        fail(err)
    url = settings.secret("state_url") or ""
    store = StateStore(url, settings.secret("pii_key"), tables.locale)
    with progress() as bar:
        tasks: dict[str, TaskID] = {}

        def advance(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done)

        report = ingest_tables(store, tables, advance)
    for frame in report.rejections:
        report_rejections(frame, data)
    print_table("Ingested rows", report.table())
    console.print(f"[green]State store[/] {redact(url)}: {store.counts()}")


@app.command("watch", rich_help_panel=PANEL)
def watch_command(
    once: Annotated[bool, typer.Option(help="Run one pass and exit.")] = True,
    as_of: AsOfOption = None,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Re-score every parcel in flight as of now (or --as-of) and queue the alerts it triggers."""
    if not once:
        fail("only --once is supported here; the service runs passes on a clock")
    import pandas as pd

    from cli.engine import open_engine
    from serving.watch.watcher import WatchBusy

    settings = load_settings()
    cache = settings.tree_cache if settings.compile_trees else None
    when = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp(dt.datetime.now(dt.UTC))
    with open_engine(engine, scheduler, workers, cache) as runner:
        # The pass reads the store here; on dask, the parcels are scored on the workers.
        scorer = getattr(runner, "score_with_features", None)
        watcher = local_watcher(scorer)
        try:
            with console.status(f"watching as of {when:%Y-%m-%d %H:%M} UTC on {engine}"):
                result = watcher.run_pass(when)
        except WatchBusy as err:
            fail(err)
    console.print(
        f"[green]Pass[/] as of {result.as_of.isoformat()}: {result.scored:,} parcels in flight, "
        f"{result.at_risk:,} at risk, {result.alerts:,} alerts queued"
    )


def served_watch() -> tuple[ServedModel, StateStore, AlertStore, Locale]:
    """The settings' served model, the watch's state store and the outbox, in this process."""
    settings = load_settings()
    from contract.locale import NEUTRAL
    from serving.alerts import AlertStore
    from serving.model_source import ModelNotFound, load_served_model
    from serving.watch.store import StateStore

    try:
        with console.status(f"loading {settings.model_uri}"):
            model = load_served_model(settings.model_uri, settings.tracking(), settings.context_dir)
    except ModelNotFound as err:
        fail(err)
    if settings.compile_trees:  # LightGBM scores until the compiled trees are ready
        model.predictor.compile_trees(settings.tree_cache, background=True)
    context = model.predictor.context
    locale = context.locale if context is not None else NEUTRAL
    state = StateStore(settings.secret("state_url") or "", settings.secret("pii_key"), locale)
    return model, state, AlertStore(settings.secret("outbox_url") or ""), locale


def local_watcher(scorer: Scorer | None = None) -> Watcher:
    """A watcher in this process, on the settings' model, state store and outbox.

    Args:
        scorer: How a pass scores the parcels in flight (default: in this process).
    """
    from serving.messages import MessageBook
    from serving.watch.watcher import Watcher
    from training.scoring import score_with_features

    model, state, outbox, locale = served_watch()
    settings = load_settings()
    return Watcher(
        state,
        model.predictor,
        model.label,
        outbox,
        settings.alert_policy(),
        MessageBook.from_json(settings.compensation, locale.timezone),
        scorer=scorer or score_with_features,
    )
