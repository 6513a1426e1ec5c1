"""How the commands show things: one console, tables, progress bars, one-line errors.

Only rich is imported here at module level; pandas is imported inside the functions that
render frames, so a command's `--help` and its argument errors come before any heavy import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

console = Console()

# Targets printed next to the metrics (docs/model.md has them all, with what they mean).
TARGET_NOTES = {
    "risk_ece": "<= 0.02",
    "risk_ece_alert_range": "<= 0.05",
    "eta_p10_p90_coverage": "0.80 +/- 0.03",
    "early_warning_recall_12h": ">= 0.6",
    "early_warning_precision": ">= 0.5",
}


def fail(err: Exception | str) -> NoReturn:
    """Print one line naming the problem and exit with code 2 (bad input or setup)."""
    console.print(f"[red]error:[/] {err}")
    raise typer.Exit(code=2)


def warn(text: str) -> None:
    """Print a warning line."""
    console.print(f"[yellow]warning:[/] {text}")


def progress() -> Progress:
    """A progress bar with counts and elapsed time."""
    return Progress(
        TextColumn("[progress.description]{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def steps() -> Progress:
    """Numbered steps of a job whose length is not known in advance, with elapsed time."""
    return Progress(
        SpinnerColumn(),
        TextColumn("step {task.completed:>2.0f}"),
        TextColumn("[progress.description]{task.description}"),
        TimeElapsedColumn(),
        console=console,
    )


def print_metrics(metrics: dict[str, float], title: str = "Evaluation (latest period)") -> None:
    """The metrics, one per row, with their target where there is one."""
    table = Table(title=title, title_justify="left")
    for column in ("metric", "value", "target"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for name, value in metrics.items():
        table.add_row(name, f"{value:,.4f}", TARGET_NOTES.get(name, ""))
    console.print(table)


def print_table(title: str, frame: pd.DataFrame) -> None:
    """A frame as a table (rates as percentages, numbers with separators, NaN as -)."""
    import pandas as pd

    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v, str(c)) for v, c in zip(row, frame.columns, strict=True)))
    console.print(table)


def report_rejections(rejections: pd.DataFrame, where: object, shown: int = 10) -> None:
    """Rows the data contract rejected: counts per table, column and rule, then examples.

    The command goes on with the valid rows; the report never shows a PII value.
    """
    keys = rejections.groupby("table", observed=True)["row_key"].nunique()
    warn(
        f"{where}: the data contract rejected "
        + ", ".join(f"{n:,} {table} rows" for table, n in keys.items())
        + "; going on with the rest"
    )
    counts = (
        rejections.groupby(["table", "column", "rule"], observed=True)["row_key"]
        .nunique()
        .rename("rows")
        .reset_index()
    )
    print_table("Rejected rows by rule", counts)
    print_table(f"First {min(shown, len(rejections))} rejections", rejections.head(shown))


def print_pairs(title: str, values: dict[str, float], key: str, value: str) -> None:
    """A two-column table of a dict."""
    import pandas as pd

    print_table(title, pd.DataFrame({key: list(values), value: list(values.values())}))


def at_risk_view(scores: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The at-risk list as ops read it: local times, the risk as a percentage, the top reason."""
    import pandas as pd

    def local(column: str) -> pd.Series:
        return scores[column].dt.tz_convert(timezone).dt.strftime("%m-%d %H:%M")

    return pd.DataFrame(
        {
            "shipment_id": scores["shipment_id"],
            "dest_region": scores["dest_region"],
            "risk": scores["risk"].map("{:.0%}".format),
            "promised (local)": local("promised_at"),
            "ETA P10-P90 (local)": local("eta_p10") + " .. " + local("eta_p90"),
            "main reason": scores["reasons"].str.split("; ").str[0],
        }
    )


def _cell(value: object, column: str) -> str:
    import pandas as pd

    if isinstance(value, float):
        if pd.isna(value):
            return "-"
        if "rate" in column or column == "share":
            return f"{value:.1%}"
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
