"""The `stallguard` command: one sub-command per lifecycle stage."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sources.synthetic import SimulatedWorld, SimulationConfig, simulate
from sources.synthetic.summary import summarize
from sources.synthetic.world import STAGES

if TYPE_CHECKING:
    from training.models import BoosterParams
    from training.predictor import Predictor
    from training.recalibration import Recalibration
    from training.sources import TrainingData

app = typer.Typer(
    help="Stallguard: predict which parcels will miss their promise, and why.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.callback()
def main() -> None:
    """Stallguard: predict which parcels will miss their promise, and why."""
    # MLflow draws a progress bar for every artifact it reads back; the commands have their own.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


_DEFAULT_START = dt.datetime.combine(SimulationConfig.start, dt.time())


@app.command("simulate")
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
    ] = _DEFAULT_START,
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
    from contract.tables import Tables
    from features.context import build_context

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


SourceOption = Annotated[str, typer.Option(help="Data source (names the MLflow experiment).")]
DataOption = Annotated[
    Path | None,
    typer.Option(
        help="Tables directory (from `stallguard simulate` or a source). "
        "Default: data/simulated, simulated first if missing."
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


@app.command("train")
def train_command(
    data: DataOption = None,
    source: SourceOption = "synthetic",
    weather_csv: WeatherOption = None,
    params: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="JSON of LightGBM settings (from tune)."),
    ] = None,
    max_train_snapshots: Annotated[
        int, typer.Option(min=0, help="Cap on training snapshots, sampled by parcel (0: all).")
    ] = 0,
    register: Annotated[
        bool, typer.Option(help="Register the model as the new challenger.")
    ] = True,
    cross_fit_blocks: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Calibrate the backtest on held-out scores cross-fitted over this many time "
            "blocks (0: on the calibration fold; default: cross-fit when that fold is shorter "
            "than 60 days; see docs/model.md).",
        ),
    ] = None,
    refit: Annotated[
        bool,
        typer.Option(
            help="After the backtest, refit on everything known at the data's end and register "
            "that (--no-refit registers the backtest's own model; see docs/model.md)."
        ),
    ] = True,
    recalibration_days: Annotated[
        float,
        typer.Option(
            min=0,
            help="Evaluate with a daily rolling recalibration over this many trailing days "
            "and bundle the refit at the data's end (0: none; see docs/model.md).",
        ),
    ] = 0.0,
) -> None:
    """Train risk + ETA models, evaluate on the latest period, log to MLflow, register."""
    from training.config import TrackingConfig, TrainConfig
    from training.tracking import log_training
    from training.train import train

    config = TrainConfig.for_source(
        source,
        max_train_snapshots=max_train_snapshots,
        recalibration_days=recalibration_days,
        refit=refit,
        **({"cross_fit_blocks": cross_fit_blocks} if cross_fit_blocks is not None else {}),
    )
    if params is not None:
        config = dataclasses.replace(config, params=_booster_params(params, config.params))
    data_set = _load(source, data, weather_csv)
    tracking = TrackingConfig.from_env()
    with console.status("training") as status:
        try:
            result = train(data_set, config, progress=lambda s: status.update(s))
        except ValueError as err:
            fail(err)
        status.update("logging to MLflow")
        logged = log_training(result, data_set, config, tracking, register=register)
    _print_metrics(result.evaluation.metrics)
    _print_table("Seconds per step", _frame(result.timings, "step", "seconds"))
    learned = result.windows()["window_deployed_train_end"][:16].replace("T", " ")
    model = "refitted model" if result.refitted else "backtest model"
    where = (
        f"registered {tracking.registered_model} v{logged.version} ({model}, learned up to "
        f"{learned} UTC) as challenger"
        if logged.version
        else "not registered"
    )
    console.print(f"[green]Run[/] {logged.run_id}: {where}  (tracking: {tracking.uri})")


@app.command("evaluate")
def evaluate_command(
    model: ModelOption = "models:/stallguard@champion",
    data: DataOption = None,
    source: SourceOption = "synthetic",
) -> None:
    """Evaluate a registered model on the latest period of DATA (its own window if it fits)."""
    from training.config import TrackingConfig, TrainConfig
    from training.evaluation import Window, evaluate_window, later_window
    from training.tracking import connect, load_predictor
    from training.train import window_of

    connect(TrackingConfig.from_env())
    data_set = _load(source, data)
    predictor = _load_model(model, load_predictor)
    info = predictor.info
    same_data = info.get("data_fingerprint") == data_set.fingerprint
    window = Window.from_params(info) if same_data else window_of(data_set, TrainConfig())
    if info.get("refit"):
        # A refitted model learned from everything up to its data's end: only what came
        # later is new to it.
        later = later_window(window, pd.Timestamp(info["window_now"]), data_set.now)
        if later is None:
            fail(
                ValueError(
                    f"{model} was refitted on everything up to {info['window_now'][:16]}, and "
                    f"{data_set.location} ends at {data_set.now:%Y-%m-%d %H:%M}: evaluate it "
                    "on data that goes past its training data (its backtest metrics are in "
                    "the run)"
                )
            )
        window = later
    with console.status(f"evaluating {model}"):
        try:
            evaluation = evaluate_window(predictor, data_set, window)
        except ValueError as err:
            fail(err)
    span = f"{window.evaluate_from:%Y-%m-%d %H:%M} .. {window.now:%Y-%m-%d %H:%M} UTC"
    console.print(f"evaluation window: {span}")
    _print_metrics(evaluation.metrics)
    columns = ["slice", "value", "snapshots", "late_rate", "risk_roc_auc", "risk_ece"]
    columns += ["eta_p50_mae_h", "eta_p10_p90_coverage"]
    _print_table("By slice", evaluation.slices[columns].round(3))


@app.command("promote")
def promote_command(
    version: Annotated[
        str | None, typer.Option(help="Set champion to this version without the gate (rollback).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Re-evaluate on this Tables directory if windows differ.")
    ] = None,
) -> None:
    """Move `champion` to the challenger if it passes the gate (or to --version N)."""
    from training.config import TrackingConfig
    from training.promotion import promote

    tracking = TrackingConfig.from_env()
    with console.status("comparing challenger and champion"):
        try:
            decision = promote(tracking, version=version, data=data)
        except ValueError as err:
            fail(err)
    for reason in decision.reasons:
        color = "green" if reason.startswith(("pass", "manual", "v")) else "red"
        console.print(f"  [{color}]{reason}[/]")
    if decision.compared_on:
        console.print(f"  compared on: {decision.compared_on}")
    before = f"v{decision.previous}" if decision.previous else "none"
    if decision.promoted:
        name = tracking.registered_model
        console.print(f"[green]champion[/] = {name} v{decision.version} (was {before})")
    else:
        console.print(f"[red]refused[/]: v{decision.version} stays challenger; champion {before}")
        raise typer.Exit(code=1)


@app.command("tune")
def tune_command(
    data: DataOption = None,
    source: SourceOption = "synthetic",
    trials: Annotated[int, typer.Option(min=1, help="Optuna trials.")] = 10,
    out: Annotated[Path, typer.Option(help="Where to write the best settings (JSON).")] = Path(
        "best_params.json"
    ),
) -> None:
    """Optuna search of the LightGBM settings, as nested MLflow runs under one parent."""
    from training.config import TrackingConfig
    from training.tune import tune

    data_set = _load(source, data)
    with _progress() as progress:
        task = progress.add_task("tuning", total=trials)

        def advance(number: int, auc: float) -> None:
            progress.update(task, advance=1, description=f"trial {number}: AUC {auc:.4f}")

        result = tune(data_set, TrackingConfig.from_env(), trials, progress=advance)
    out.write_text(json.dumps(result.best_params, indent=1))
    console.print(f"best validation AUC {result.best_auc:.4f} with {result.best_params}")
    console.print(f"[green]Wrote[/] {out}; train with it: stallguard train --params {out}")


@app.command("score")
def score_command(
    out: Annotated[Path, typer.Option(help="Output file: .csv or .parquet.")],
    model: ModelOption = "models:/stallguard@champion",
    data: DataOption = None,
    source: SourceOption = "synthetic",
    as_of: Annotated[
        str | None, typer.Option(help="Score as of this UTC time (ISO); default: latest scan.")
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the reason texts: ko or en.")] = "en",
    top: Annotated[int, typer.Option(min=0, help="Rows of the at-risk list to print.")] = 10,
    recalibrate: Annotated[
        bool,
        typer.Option(
            help="Refit the risk map and ETA margins on DATA's recent outcomes before scoring."
        ),
    ] = False,
    stage: Annotated[
        str | None,
        typer.Option(
            help="Score every shipment as of a stage instead: purchase or handoff (Olist)."
        ),
    ] = None,
    weather_csv: WeatherOption = None,
) -> None:
    """Score every in-flight shipment in DATA (or every one as of --stage), by risk, into OUT."""
    from training.config import TrackingConfig
    from training.scoring import SCORE_FORMATS, STAGE_EVENTS, score, score_stage, write_scores
    from training.tracking import connect, load_predictor

    if lang not in ("ko", "en"):
        fail(ValueError(f"--lang must be ko or en, got {lang!r}"))
    if out.suffix.lower() not in SCORE_FORMATS:  # fail before the slow part
        fail(ValueError(f"--out must end in .csv or .parquet, got {out.name!r}"))
    if stage is not None and stage not in STAGE_EVENTS:
        fail(ValueError(f"--stage must be one of {', '.join(STAGE_EVENTS)}, got {stage!r}"))
    connect(TrackingConfig.from_env())
    data_set = _load(source, data, weather_csv)
    predictor = _load_model(model, load_predictor)
    if stage is not None:
        with console.status(f"scoring every shipment as of {stage}"):
            staged = score_stage(predictor, data_set.tables, stage, lang)
            write_scores(staged, out)
        flagged = int(staged["at_risk"].sum()) if len(staged) else 0
        console.print(
            f"[green]Wrote[/] {out}: {len(staged):,} shipments as of {stage}, {flagged:,} at risk"
        )
        return
    now = _utc(as_of) if as_of else data_set.now
    if recalibrate:
        _recalibrate(predictor, data_set, now)
    with console.status(f"scoring parcels in flight at {now:%Y-%m-%d %H:%M} UTC"):
        scores = score(predictor, data_set.tables, now, lang=lang)
        try:
            write_scores(scores, out)
        except ValueError as err:
            fail(err)
    flagged = int(scores["at_risk"].sum()) if len(scores) else 0
    overdue = int(scores["overdue"].sum()) if len(scores) else 0
    console.print(
        f"[green]Wrote[/] {out}: {len(scores):,} parcels in flight, {flagged:,} at risk "
        f"({overdue:,} already past their promise)"
    )
    savable = scores[~scores["overdue"]] if len(scores) else scores
    if top and len(savable):
        _print_table("Most at risk, not yet late", _at_risk_view(savable.head(top)))


@app.command("recalibrate")
def recalibrate_command(
    model: ModelOption = "models:/stallguard@champion",
    data: DataOption = None,
    source: SourceOption = "synthetic",
    out: Annotated[
        Path, typer.Option(help="Serving context directory to write recalibration.json into.")
    ] = Path("data/context"),
    as_of: Annotated[
        str | None, typer.Option(help="Refit as of this UTC time (ISO); default: latest scan.")
    ] = None,
    days: Annotated[
        float | None, typer.Option(min=1, help="Trailing window; default: the model's own.")
    ] = None,
) -> None:
    """Refit MODEL's risk map and ETA margins on DATA's recent outcomes, for serving.

    Run it daily next to `stallguard context`: serving loaded with that context directory
    uses the refit (and ignores one written for another model).
    """
    from training.config import TrackingConfig
    from training.tracking import connect, load_predictor

    connect(TrackingConfig.from_env())
    data_set = _load(source, data)
    predictor = _load_model(model, load_predictor)
    now = _utc(as_of) if as_of else data_set.now
    recalibration = _recalibrate(predictor, data_set, now, days)
    if recalibration is None:
        raise typer.Exit(code=1)
    path = recalibration.write(out)
    console.print(f"[green]Wrote[/] {path}")


def _recalibrate(
    predictor: Predictor, data_set: TrainingData, now: pd.Timestamp, days: float | None = None
) -> Recalibration | None:
    """Refit and install `predictor`'s recalibration; say what was used."""
    from training.recalibration import DEFAULT_DAYS
    from training.refit import refit

    window = days or float(predictor.info.get("recalibration_days", 0.0)) or DEFAULT_DAYS
    with console.status(f"recalibrating on the {window:g} days before {now:%Y-%m-%d %H:%M} UTC"):
        recalibration = refit(predictor, data_set.tables, now, window)
    if recalibration is None:
        console.print(
            f"[yellow]warning:[/] too few settled parcels in the {window:g} days before "
            f"{now:%Y-%m-%d}; keeping the model's own calibration"
        )
        return None
    predictor.use_recalibration(recalibration)
    console.print(
        f"recalibrated on {recalibration.risk_rows:,} settled snapshots "
        f"({recalibration.eta_rows:,} for the ETA margins), {window:g} days before "
        f"{now:%Y-%m-%d %H:%M} UTC"
    )
    return recalibration


def _booster_params(path: Path, defaults: BoosterParams) -> BoosterParams:
    """`defaults` with the settings of a JSON file (`stallguard tune` writes one)."""
    from training.models import BoosterParams

    values = json.loads(path.read_text())
    known = {f.name for f in dataclasses.fields(BoosterParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        fail(ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}"))
    return dataclasses.replace(defaults, **values)


def _load(source: str, data: Path | None, weather_csv: Path | None = None) -> TrainingData:
    from training.sources import load_data

    try:
        with console.status("loading data") as status:
            loaded = load_data(source, data, lambda s: status.update(s), weather_csv)
    except (ValueError, FileNotFoundError) as err:
        fail(err)
    if loaded.import_report is not None and len(loaded.import_report):
        _print_table(
            f"Import report ({source}): orders dropped or joins that failed", loaded.import_report
        )
    return loaded


def _load_model(uri: str, loader: Callable[[str], Predictor]) -> Predictor:
    import mlflow

    try:
        with console.status(f"loading {uri}"):
            return loader(uri)
    except mlflow.exceptions.MlflowException as err:
        reason = err.message.rstrip(".")
        fail(ValueError(f"cannot load {uri}: {reason}. Train one first: stallguard train"))


def fail(err: Exception) -> NoReturn:
    """Print the error and exit with code 2 (bad input or setup)."""
    console.print(f"[red]error:[/] {err}")
    raise typer.Exit(code=2) from err


def _utc(text: str) -> pd.Timestamp:
    when = pd.Timestamp(text)
    return when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")


TARGET_NOTES = {
    "risk_ece": "<= 0.02",
    "eta_p10_p90_coverage": "0.80 +/- 0.03",
    "early_warning_recall_12h": ">= 0.6",
    "early_warning_precision": ">= 0.5",
}


def _print_metrics(metrics: dict[str, float]) -> None:
    table = Table(title="Evaluation (latest period)", title_justify="left")
    for column in ("metric", "value", "target"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for name, value in metrics.items():
        table.add_row(name, f"{value:,.4f}", TARGET_NOTES.get(name, ""))
    console.print(table)


def _at_risk_view(scores: pd.DataFrame) -> pd.DataFrame:
    seoul = "Asia/Seoul"
    return pd.DataFrame(
        {
            "shipment_id": scores["shipment_id"],
            "dest_region": scores["dest_region"],
            "risk": scores["risk"].map("{:.0%}".format),
            "promised (KST)": scores["promised_at"].dt.tz_convert(seoul).dt.strftime("%m-%d %H:%M"),
            "ETA P10-P90 (KST)": scores["eta_p10"].dt.tz_convert(seoul).dt.strftime("%m-%d %H:%M")
            + " .. "
            + scores["eta_p90"].dt.tz_convert(seoul).dt.strftime("%m-%d %H:%M"),
            "main reason": scores["reasons"].str.split("; ").str[0],
        }
    )


def _frame(values: dict[str, float], key: str, value: str) -> pd.DataFrame:
    return pd.DataFrame({key: list(values), value: list(values.values())})


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
