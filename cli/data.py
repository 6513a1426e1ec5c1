"""Data commands: simulate a world, build the serving context, partition tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import (
    AsOfOption,
    EngineOption,
    PartitionsOption,
    SchedulerOption,
    WorkersOption,
)
from cli.render import console, fail, print_table, progress, warn
from sources.synthetic.config import HubOutage, SimulationConfig

if TYPE_CHECKING:
    import pandas as pd

    from contract.tables import Tables
    from features.context import Bounds
    from scale.partitions import PartitionedTables
    from training.engine import Engine

app = typer.Typer()
PANEL = "Data"
DEFAULT_START = dt.datetime.combine(SimulationConfig.start, dt.time())
OUTAGE_FORMAT = "HUB:YYYY-MM-DD:DAYS"
OUTAGE_EXAMPLE = "HUB-DAEGU-YEONGNAM:2025-03-10:2"


def hub_outage(text: str) -> HubOutage:
    """A hub outage spelt HUB:YYYY-MM-DD:DAYS, e.g. HUB-DAEGU-YEONGNAM:2025-03-10:2.

    Raises:
        typer.BadParameter: A part is missing or wrong; the message names it.
    """
    parts = text.strip().split(":")
    if len(parts) != 3:
        raise typer.BadParameter(f"{text!r} is not {OUTAGE_FORMAT}, e.g. {OUTAGE_EXAMPLE}")
    hub, first, days = parts
    try:
        first_day = dt.date.fromisoformat(first)
    except ValueError:
        raise typer.BadParameter(f"{first!r} in {text!r} is not a date (YYYY-MM-DD)") from None
    try:
        length = int(days)
    except ValueError:
        raise typer.BadParameter(f"{days!r} in {text!r} is not a whole number of days") from None
    try:
        return HubOutage(hub=hub, first_day=first_day, days=length)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


@app.command("simulate", rich_help_panel=PANEL)
def simulate_command(
    out: Annotated[Path, typer.Option(help="Directory to write the Tables (Parquet) into.")] = Path(
        "data/simulated"
    ),
    # Defaults: the default world, as SimulationConfig defines it.
    shipments: Annotated[
        int, typer.Option(min=1, help="Parcels to create.")
    ] = SimulationConfig.shipments,
    start: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="First local day (YYYY-MM-DD).")
    ] = DEFAULT_START,
    days: Annotated[
        int, typer.Option(min=7, help="Length of the world in days.")
    ] = SimulationConfig.days,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same world.")
    ] = SimulationConfig.seed,
    weather_csv: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Real daily weather (shared/data/weather_kr/kr_cities_daily_2016_2025.csv) "
            "instead of the built-in generator.",
        ),
    ] = None,
    hub_outages: Annotated[
        list[HubOutage] | None,
        typer.Option(
            "--hub-outage",
            parser=hub_outage,
            metavar=OUTAGE_FORMAT,
            help="A hub sorts nothing for DAYS local days from the date (repeatable), e.g. "
            f"{OUTAGE_EXAMPLE}; the truth goes to OUT/hidden/.",
        ),
    ] = None,
) -> None:
    """Simulate a Korean parcel network and write its canonical tables to OUT."""
    from sources.synthetic.summary import summarize
    from sources.synthetic.world import STAGES, simulate

    try:
        config = SimulationConfig(
            shipments=shipments,
            start=start.date(),
            days=days,
            seed=seed,
            weather_csv=weather_csv,
            hub_outages=tuple(hub_outages or ()),
        )
    except ValueError as err:
        # Only an outage can be wrong here: the other options are checked by their types.
        raise typer.BadParameter(str(err), param_hint="'--hub-outage'") from None
    with progress() as bar:
        task = bar.add_task("simulating", total=len(STAGES))

        def advance(stage: str) -> None:
            bar.update(task, advance=1, description=f"simulated {stage}")

        try:
            world = simulate(config, progress=advance)
        except ValueError as err:
            bar.stop()
            fail(err)
        bar.update(task, description=f"writing {out}")
        world.write(out)
    summary = summarize(world)
    print_table("World", summary.overview)
    print_table("Late rate by hidden cause", summary.by_cause)
    print_table("Late rate by destination region", summary.by_region)
    print_table("Late rate by week of creation", summary.by_week)
    if config.hub_outages:
        print_table("Injected hub outages", outage_summary(world.hub_outages, world.outage_waits))
    console.print(f"[green]Wrote[/] {out}/  (hidden causes: {out}/hidden/, never read by features)")


def outage_summary(outages: pd.DataFrame, waits: pd.DataFrame) -> pd.DataFrame:
    """One row per injected outage: its days, when its backlog cleared, who waited how long."""
    import pandas as pd

    rows = []
    for o in outages.itertuples():
        # A hub's overlapping outages share their waits; each row counts the ones in its window.
        cleared = o.cleared_day if pd.notna(o.cleared_day) else waits["arrived_day"].max()
        mine = waits[
            (waits["hub"] == o.hub)
            & (waits["arrived_day"] >= o.first_day)
            & (waits["arrived_day"] <= cleared)
        ]
        rows.append(
            {
                "hub": o.hub,
                "days": f"{o.first_day:%Y-%m-%d} to {o.last_day:%Y-%m-%d}",
                "backlog cleared": f"{o.cleared_day:%Y-%m-%d}" if pd.notna(o.cleared_day) else "-",
                "parcels waited >= 1 day": len(mine),
                "mean wait (h)": float(mine["wait_hours"].mean()),
            }
        )
    return pd.DataFrame(rows)


@app.command("context", rich_help_panel=PANEL)
def context_command(
    data: Annotated[
        Path, typer.Option(help="Tables directory (from simulate or a source).")
    ] = Path("data/simulated"),
    out: Annotated[Path, typer.Option(help="Directory to write the context into.")] = Path(
        "data/context"
    ),
    as_of: AsOfOption = None,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
    partitions: PartitionsOption = None,
) -> None:
    """Refresh the cross-shipment context (hub load, histories, weather) serving reads."""
    from cli.engine import open_engine

    with open_engine(engine, scheduler, workers) as runner:
        source, bounds = read_source(data, partitions, runner)
        when = as_of_or_latest(as_of, bounds, partitions or str(data))
        with console.status(f"building context as of {when:%Y-%m-%d %H:%M} UTC on {engine}"):
            context = runner.context(source, as_of=when)  # type: ignore[arg-type]
            context.write(out)
    console.print(f"[green]Wrote[/] context as of {when.isoformat()} to {out}/")


def as_of_or_latest(as_of: dt.datetime | None, bounds: Bounds, where: str) -> pd.Timestamp:
    """`as_of`, or the latest scan in the data; warned about when outside the data's period."""
    import pandas as pd

    latest = bounds.time(bounds.last_event)
    when = pd.Timestamp(as_of) if as_of is not None else latest
    if pd.isna(when):
        fail(f"{where} has no scan events; pass --as-of")
    check_period(when, bounds.time(bounds.first), latest, "DATA")
    return when


def read_source(
    data: Path, partitions: str | None, runner: Engine
) -> tuple[Tables | PartitionedTables, Bounds]:
    """The tables a batch command works on, and their time bounds.

    `partitions` (a partitioned URL, dask only) is read by the workers; `data` here.
    """
    from contract.tables import Tables
    from features.context import Bounds

    if partitions is not None:
        if runner.name != "dask":
            fail("--partitions needs --engine dask")
        from scale.partitions import PartitionedTables

        try:
            parted = PartitionedTables.open(partitions)
        except FileNotFoundError as err:
            fail(err)
        return parted, runner.bounds(parted)  # type: ignore[attr-defined]
    try:
        tables = Tables.read(data)
    except FileNotFoundError as err:
        fail(err)
    return tables, Bounds.of(tables.shipments, tables.scan_events)


@app.command("partition", rich_help_panel=PANEL)
def partition_command(
    out: Annotated[
        str, typer.Option(metavar="URL", help="Where to write: a folder or any fsspec URL.")
    ],
    data: Annotated[Path, typer.Option(help="Tables directory to partition.")] = Path(
        "data/simulated"
    ),
    parts: Annotated[int, typer.Option(min=1, help="Partitions (by shipment).")] = 8,
) -> None:
    """Write a Tables directory in partitions by shipment, for --engine dask --partitions."""
    from contract.tables import Tables
    from scale.partitions import PartitionedTables

    try:
        tables = Tables.read(data)
    except FileNotFoundError as err:
        fail(err)
    with console.status(f"writing {parts} partitions to {out}"):
        written = PartitionedTables.write(tables, out, parts)
    console.print(
        f"[green]Wrote[/] {len(tables.shipments):,} shipments in {written.parts} partitions "
        f"to {out}"
    )


def check_period(when: pd.Timestamp, first: pd.Timestamp, last: pd.Timestamp, what: str) -> None:
    """Warn when `when` falls outside the data's period: the answers would mean little."""
    import pandas as pd

    if pd.isna(first) or pd.isna(last):
        return
    if when < first:
        warn(f"{when:%Y-%m-%d %H:%M} UTC is before {what} begins ({first:%Y-%m-%d %H:%M})")
    elif when > last + pd.Timedelta(days=1):
        warn(
            f"{when:%Y-%m-%d %H:%M} UTC is after {what} ends ({last:%Y-%m-%d %H:%M}): nothing "
            "later is known, so every parcel in flight looks stalled and past its promise"
        )
