"""The `stallguard` command: one sub-command per lifecycle stage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.sources.synthetic import SimulatedWorld, SimulationConfig, simulate
from features.sources.synthetic.summary import summarize
from features.sources.synthetic.world import STAGES

app = typer.Typer(
    help="Stallguard: predict which parcels will miss their promise, and why.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.callback()
def main() -> None:
    """Stallguard: predict which parcels will miss their promise, and why."""


@app.command("simulate")
def simulate_command(
    out: Annotated[Path, typer.Option(help="Directory to write the Tables (Parquet) into.")] = Path(
        "data/simulated"
    ),
    shipments: Annotated[int, typer.Option(min=1, help="Parcels to create.")] = 100_000,
    start: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="First local day (YYYY-MM-DD).")
    ] = dt.datetime(2025, 7, 1),
    days: Annotated[int, typer.Option(min=7, help="Length of the world in days.")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same world.")] = 7,
    weather_csv: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Real daily weather (shared/data/weather_kr/kr_cities_daily_2016_2025.csv) "
            "instead of the built-in generator.",
        ),
    ] = None,
) -> None:
    """Simulate a Korean parcel network and write its canonical tables to OUT."""
    config = SimulationConfig(
        shipments=shipments, start=start.date(), days=days, seed=seed, weather_csv=weather_csv
    )
    with _progress() as progress:
        task = progress.add_task("simulating", total=len(STAGES))

        def advance(stage: str) -> None:
            progress.update(task, advance=1, description=f"simulated {stage}")

        try:
            world = simulate(config, progress=advance)
        except ValueError as err:
            progress.stop()
            console.print(f"[red]error:[/] {err}")
            raise typer.Exit(code=2) from err
        progress.update(task, description=f"writing {out}")
        world.write(out)
    _print_summary(world)
    console.print(f"[green]Wrote[/] {out}/  (hidden causes: {out}/hidden/, never read by features)")


@app.command("context")
def context_command(
    data: Annotated[
        Path, typer.Option(help="Tables directory (from simulate or a source).")
    ] = Path("data/simulated"),
    out: Annotated[Path, typer.Option(help="Directory to write the context into.")] = Path(
        "data/context"
    ),
    as_of: Annotated[
        str | None,
        typer.Option(help="Build as of this UTC time (ISO); default: the latest scan in DATA."),
    ] = None,
) -> None:
    """Refresh the cross-shipment context (hub load, histories, weather) serving reads."""
    from features.context import build_context
    from features.tables import Tables

    try:
        tables = Tables.read(data)
    except FileNotFoundError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(code=2) from err
    when = pd.Timestamp(as_of) if as_of else tables.scan_events["event_time"].max()
    if pd.isna(when):
        console.print(f"[red]error:[/] {data} has no scan events; pass --as-of")
        raise typer.Exit(code=2)
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    with console.status(f"building context as of {when:%Y-%m-%d %H:%M} UTC"):
        context = build_context(tables, as_of=when)
        context.write(out)
    console.print(f"[green]Wrote[/] context as of {when.isoformat()} to {out}/")


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def _print_summary(world: SimulatedWorld) -> None:
    summary = summarize(world)
    _print_table("World", summary.overview)
    _print_table("Late rate by hidden cause", summary.by_cause)
    _print_table("Late rate by destination region", summary.by_region)
    _print_table("Late rate by week of creation", summary.by_week)


def _print_table(title: str, frame: pd.DataFrame) -> None:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_fmt(v, c) for v, c in zip(row, frame.columns, strict=True)))
    console.print(table)


def _fmt(value: object, column: str) -> str:
    if isinstance(value, float):
        if pd.isna(value):
            return "-"
        if "rate" in column or column == "share":
            return f"{value:.1%}"
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
