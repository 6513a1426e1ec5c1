"""`stallguard outbox list|retry|purge`: see and act on the alerts delivery gave up on.

Parked rows are alerts the receiver refused (a 4xx such as 401, 403, 404: a rotated token, a
wrong path); dead rows failed until the retry horizon. Both are kept until someone looks:
fix the cause, then `retry` puts them back in the queue; `purge` deletes what is no longer
wanted. The outbox is STALLGUARD_OUTBOX_URL (or --outbox).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

from cli.render import console, fail, print_table
from cli.settings import load_settings, redact

if TYPE_CHECKING:
    from serving.alerts import AlertStore

app = typer.Typer(
    help="See, re-queue and purge alerts the sender parked or gave up on.",
    no_args_is_help=True,
)

OutboxOption = Annotated[
    str | None,
    typer.Option(help="SQLAlchemy URL of the outbox (default: STALLGUARD_OUTBOX_URL)."),
]
HELD = ("parked", "dead")


def _store(outbox: str | None) -> tuple[AlertStore, str]:
    from cli.serve import require_outbox
    from serving.alerts import AlertStore

    url = outbox or load_settings().secret("outbox_url") or ""
    require_outbox(url)
    return AlertStore(url), url


@app.command("list")
def list_command(
    status: Annotated[str, typer.Option(help="parked, dead, pending or delivered.")] = "parked",
    limit: Annotated[int, typer.Option(min=1, help="Most rows to show.")] = 50,
    outbox: OutboxOption = None,
) -> None:
    """Rows of one status, oldest first, with their last error (no payloads, no PII)."""
    from serving.alerts import STATUSES, shipment_hash

    if status not in STATUSES:
        fail(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    store, url = _store(outbox)
    import pandas as pd

    rows = store.rows(status, limit=limit)
    counts = store.counts()
    console.print(f"outbox {redact(url)}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    if not rows:
        console.print(f"no {status} rows")
        return
    table = pd.DataFrame(
        {
            "key": [r.key for r in rows],
            "kind": [r.kind for r in rows],
            "shipment": [shipment_hash(r.shipment_id) for r in rows],
            "attempts": [r.attempts for r in rows],
            "last error": [r.last_error or "" for r in rows],
            "queued (UTC)": [f"{r.queued_at:%Y-%m-%d %H:%M}" for r in rows],
        }
    )
    print_table(f"{status} alerts (first {len(rows)} of {counts[status]:,})", table)


@app.command("retry")
def retry_command(
    status: Annotated[
        str | None, typer.Option(help="Re-queue only parked or only dead rows.")
    ] = None,
    key: Annotated[
        list[str] | None, typer.Option(help="Re-queue only these keys (repeatable).")
    ] = None,
    outbox: OutboxOption = None,
) -> None:
    """Put parked and dead rows back in the queue, due now, with a fresh retry horizon."""
    if status is not None and status not in HELD:
        fail(f"--status must be parked or dead, got {status!r}")
    store, _ = _store(outbox)
    count = store.requeue(dt.datetime.now(dt.UTC), status, key or ())
    console.print(f"re-queued {count:,} alerts; a running sender delivers them next")


@app.command("purge")
def purge_command(
    status: Annotated[str, typer.Option(help="delivered, parked or dead.")],
    older_than: Annotated[
        float, typer.Option(min=0, help="Only rows last touched this many days ago or more.")
    ] = 30.0,
    outbox: OutboxOption = None,
) -> None:
    """Delete rows of one status last touched more than --older-than days ago."""
    if status not in ("delivered", *HELD):
        fail(f"--status must be delivered, parked or dead, got {status!r}")
    store, _ = _store(outbox)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=older_than)
    console.print(f"deleted {store.purge(status, before):,} {status} alerts")
