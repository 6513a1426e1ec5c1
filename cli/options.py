"""Options the commands share, typed and checked before anything heavy is imported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from sources import REGISTERED


def utc_time(text: str) -> dt.datetime:
    """An ISO 8601 time ("2025-12-27T14:00Z", "2025-12-27 23:00+09:00", "2025-12-27") in UTC.

    A time without an offset is read as UTC, as the data contract does.

    Raises:
        typer.BadParameter: It is not such a time (a one-line usage error).
    """
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time, e.g. 2025-12-27T14:00Z or 2025-12-27"
        ) from None
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def source_name(name: str) -> str:
    """A registered source's name."""
    if name not in REGISTERED:
        raise typer.BadParameter(f"unknown source {name!r}; choose one of {', '.join(REGISTERED)}")
    return name


def language(lang: str) -> str:
    """Ko or en."""
    if lang not in ("ko", "en"):
        raise typer.BadParameter(f"must be ko or en, got {lang!r}")
    return lang


SourceOption = Annotated[
    str,
    typer.Option(
        parser=source_name,
        help=f"Data source ({', '.join(REGISTERED)}); names the MLflow experiment.",
    ),
]
DataOption = Annotated[
    Path | None,
    typer.Option(
        help="Where the source's data is (a Tables directory for synthetic; a folder of "
        "CSV files for olist). Default: data/simulated, simulated first if missing."
    ),
]
WeatherOption = Annotated[
    Path | None,
    typer.Option(
        exists=True, dir_okay=False, help="Olist only: INMET daily weather CSV to join by state."
    ),
]
ModelOption = Annotated[
    str, typer.Option(help="MLflow model URI, e.g. models:/stallguard@champion or runs:/ID/model.")
]
AsOfOption = Annotated[
    dt.datetime | None,
    typer.Option(
        parser=utc_time,
        metavar="TIME",
        help="As of this time (ISO 8601; UTC when no offset is given). Default: the latest "
        "scan in the data.",
    ),
]
LangOption = Annotated[
    str, typer.Option(parser=language, help="Language of the reason texts: ko or en.")
]


def engine_name(name: str) -> str:
    """Local or dask."""
    if name not in ("local", "dask"):
        raise typer.BadParameter(f"must be local or dask, got {name!r}")
    return name


EngineOption = Annotated[
    str,
    typer.Option(
        parser=engine_name,
        help="Where the batch work runs: local (this process) or dask (docs/scale.md).",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        metavar="ADDRESS",
        help="--engine dask: a running Dask scheduler (tcp://host:8786). Default: a local "
        "cluster of one worker process per core.",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(min=1, help="--engine dask without --scheduler: worker processes to start."),
]
PartitionsOption = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="--engine dask: tables partitioned by shipment (stallguard partition), a folder "
        "or any fsspec URL, read by the workers themselves instead of --data.",
    ),
]
