"""`stallguard replay`: stream a world into the live watch in simulated time.

The history before `--from` goes first, in bulk; then the network's scans, new parcels and
weather flow step by step, with a watcher pass at the end of every `--watch-every` of simulated
time, into a running service (`--to URL`, through its API) or a store in this process.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import utc_time
from cli.render import console, fail, print_table, progress
from cli.settings import load_settings, redact
from cli.watch import PANEL

if TYPE_CHECKING:
    import pandas as pd
    from rich.progress import TaskID

    from serving.watch.replay import Replay, Summary, Target

app = typer.Typer()


def duration(text: str) -> dt.timedelta:
    """A positive duration: "1h", "30min", "90s", "1 day".

    Raises:
        typer.BadParameter: It is not one.
    """
    import pandas as pd

    try:
        value = pd.Timedelta(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a duration, e.g. 1h, 30min, 1 day") from None
    if value <= pd.Timedelta(0):
        raise typer.BadParameter(f"must be positive, got {text!r}")
    return value.to_pytimedelta()


@app.command("replay", rich_help_panel=PANEL)
def replay_command(
    data: Annotated[
        Path, typer.Option(help="A canonical Tables directory (simulate's or a source's).")
    ] = Path("data/simulated"),
    start: Annotated[
        dt.datetime | None,
        typer.Option(
            "--from",
            parser=utc_time,
            metavar="TIME",
            help="Where the live part starts (ISO 8601, UTC when no offset). Default: --days "
            "before the data's last scan.",
        ),
    ] = None,
    days: Annotated[float, typer.Option(min=0.01, help="Simulated days to stream.")] = 3.0,
    speed: Annotated[
        float,
        typer.Option(min=0, help="Simulated seconds per real second; 0: as fast as it goes."),
    ] = 0.0,
    watch_every: Annotated[
        dt.timedelta,
        typer.Option(parser=duration, metavar="DURATION", help="Simulated time between passes."),
    ] = "1h",  # type: ignore[assignment]  # typer parses the default too
    to: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="A running service (bearer token: STALLGUARD_API_TOKEN). Default: a state "
            "store in this process (STALLGUARD_STATE_URL).",
        ),
    ] = None,
    history_days: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Days of history before --from, loaded first. Default: as far back as a "
            "watcher pass reads (the context's longest window and a week).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue after the target's latest pass (after a crash or a stop): what it "
            "already holds is sent again and answered duplicate."
        ),
    ] = False,
) -> None:
    """Replay a world into the live watch: history in bulk, then scans and passes in time order."""
    settings = load_settings()
    import pandas as pd

    from contract.tables import Tables
    from serving.watch.replay import Replay

    try:
        tables = Tables.read(data)
    except FileNotFoundError as err:
        fail(err)
    last = tables.scan_events["event_time"].max()
    begin = pd.Timestamp(start) if start is not None else last - pd.Timedelta(days=days)
    try:
        back = {} if history_days is None else {"history_days": history_days}
        replay = Replay(tables, begin, days, pd.Timedelta(watch_every), **back)
    except ValueError as err:
        fail(err)
    target, where = _target(to, settings.secret("api_token"))
    if resume:
        watched = target.watched_as_of()
        if watched is not None and replay.start < watched < replay.end:
            try:
                replay = replay.resumed(watched)
            except ValueError as err:
                fail(f"cannot resume: {err} (use the same --from, --days and --watch-every)")
    try:
        replay_live(replay, target, speed, where)
    except RuntimeError as err:
        fail(err)
    finally:
        close = getattr(target, "close", None)
        if close is not None:
            close()


def replay_live(replay: Replay, target: Target, speed: float, where: str) -> Summary:
    """Run `replay` into `target` with progress bars and a live summary; print the report."""
    console.print(
        f"Replaying into {where}: history from {replay.since:%Y-%m-%d %H:%M}, live "
        f"{replay.start:%Y-%m-%d %H:%M} .. {replay.end:%Y-%m-%d %H:%M} UTC, "
        f"{replay.steps} passes, speed {'max' if speed == 0 else f'{speed:g}x'}"
    )
    summary = _run(replay, target, speed)
    _report(summary, target)
    return summary


def _target(to: str | None, token: str | None) -> tuple[Target, str]:
    from serving.watch.targets import HttpTarget, LocalTarget

    if to is not None:
        return HttpTarget(to, token), redact(to)
    from cli.watch import local_watcher

    watcher = local_watcher()
    return LocalTarget(watcher.store, watcher), redact(load_settings().secret("state_url"))


def _run(replay: Replay, target: Target, speed: float) -> Summary:
    from serving.watch.replay import Step, run_replay

    with progress() as bar:
        tasks: dict[str, TaskID] = {}

        def loaded(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(f"history: {table}", total=total)
            bar.update(tasks[table], completed=done)

        def stepped(step: Step, summary: Summary) -> None:
            last = summary.last
            assert last is not None  # told after a pass
            if "live" not in tasks:
                tasks["live"] = bar.add_task("live", total=replay.steps)
            bar.update(
                tasks["live"],
                advance=1,
                description=(
                    f"{_kst(step.end)} KST  in flight {last.scored:>5,}  at risk "
                    f"{last.at_risk:>4,}  alerts {summary.alerts:>5,}"
                ),
            )

        return run_replay(replay, target, speed, loaded, stepped)


def _kst(ts: pd.Timestamp) -> str:
    return ts.tz_convert("Asia/Seoul").strftime("%m-%d %H:%M")


def _report(summary: Summary, target: Target) -> None:
    import pandas as pd

    rows = [(t, s, n) for (t, s), n in sorted(summary.statuses.items())]
    print_table("Rows sent", pd.DataFrame(rows, columns=["table", "status", "rows"]))
    errors = getattr(target, "errors", [])
    for table, key, error in errors[:10]:
        console.print(f"[yellow]rejected[/] {table} {key}: {error}")
    mean_pass = summary.pass_s / summary.passes if summary.passes else 0.0
    console.print(
        f"[green]Replayed[/]: history in {summary.history_s:.1f} s; live {summary.live_rows:,} "
        f"rows and {summary.passes} passes in {summary.live_s:.1f} s (a pass: {mean_pass:.2f} s "
        f"on average); {summary.alerts:,} alerts queued"
    )
    if summary.last is not None:
        last = summary.last
        console.print(
            f"Last pass as of {last.as_of.isoformat()}: {last.scored:,} in flight, "
            f"{last.at_risk:,} at risk"
        )
