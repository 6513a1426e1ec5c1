"""Model commands: train, evaluate, promote, tune, score, recalibrate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.data import as_of_or_latest, check_period, read_source
from cli.engine import open_engine
from cli.options import (
    AsOfOption,
    DataOption,
    EngineOption,
    LangOption,
    ModelOption,
    PartitionsOption,
    SchedulerOption,
    SourceOption,
    WeatherOption,
    WorkersOption,
)
from cli.render import (
    at_risk_view,
    console,
    fail,
    print_metrics,
    print_pairs,
    print_table,
    report_rejections,
    steps,
    warn,
)
from cli.settings import load_settings

if TYPE_CHECKING:
    import pandas as pd

    from training.config import TrackingConfig
    from training.models import BoosterParams
    from training.predictor import Predictor
    from training.recalibration import Recalibration
    from training.sources import TrainingData

app = typer.Typer()
PANEL = "Model"
CHAMPION = "models:/stallguard@champion"


@app.command("train", rich_help_panel=PANEL)
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
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Train risk + ETA models, backtest them, refit, log to MLflow, register a challenger."""
    tracking = load_settings().tracking()
    from training.config import TrainConfig
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
    data_set = load(source, data, weather_csv)
    with open_engine(engine, scheduler, workers) as runner, steps() as bar:
        task = bar.add_task("starting", total=None)

        def step(description: str) -> None:
            bar.update(task, advance=1, description=description)

        try:
            result = train(data_set, config, progress=step, engine=runner)
        except ValueError as err:
            fail(err)
        step("logging to MLflow")
        logged = log_training(result, data_set, config, tracking, register=register)
    print_metrics(result.evaluation.metrics)
    print_pairs("Seconds per step", result.timings, "step", "seconds")
    learned = result.windows()["window_deployed_train_end"][:16].replace("T", " ")
    model = "refitted model" if result.refitted else "backtest model"
    where = (
        f"registered {tracking.registered_model} v{logged.version} ({model}, learned up to "
        f"{learned} UTC) as challenger"
        if logged.version
        else "not registered"
    )
    console.print(f"[green]Run[/] {logged.run_id}: {where}  (tracking: {tracking.uri})")


@app.command("evaluate", rich_help_panel=PANEL)
def evaluate_command(
    model: ModelOption = CHAMPION,
    data: DataOption = None,
    source: SourceOption = "synthetic",
) -> None:
    """Evaluate a registered model on the latest period of DATA (its own window if it fits)."""
    tracking = load_settings().tracking()
    import pandas as pd

    from training.config import TrainConfig
    from training.evaluation import Window, evaluate_window, later_window
    from training.train import window_of

    data_set = load(source, data)
    predictor = load_model(model, tracking)
    info = predictor.info
    same_data = info.get("data_fingerprint") == data_set.fingerprint
    window = Window.from_params(info) if same_data else window_of(data_set, TrainConfig())
    if info.get("refit"):
        # A refitted model learned from everything up to its data's end: only what came
        # later is new to it.
        later = later_window(window, pd.Timestamp(info["window_now"]), data_set.now)
        if later is None:
            fail(
                f"{model} was refitted on everything up to {info['window_now'][:16]}, and "
                f"{data_set.location} ends at {data_set.now:%Y-%m-%d %H:%M}: evaluate it on "
                "data that goes past its training data (its backtest metrics are in the run)"
            )
        window = later
    with console.status(f"evaluating {model}"):
        try:
            evaluation = evaluate_window(predictor, data_set, window)
        except ValueError as err:
            fail(err)
    span = f"{window.evaluate_from:%Y-%m-%d %H:%M} .. {window.now:%Y-%m-%d %H:%M} UTC"
    console.print(f"evaluation window: {span}")
    print_metrics(evaluation.metrics)
    columns = ["slice", "value", "snapshots", "late_rate", "risk_roc_auc", "risk_ece"]
    columns += ["eta_p50_mae_h", "eta_p10_p90_coverage"]
    print_table("By slice", evaluation.slices[columns].round(3))


@app.command("promote", rich_help_panel=PANEL)
def promote_command(
    version: Annotated[
        str | None, typer.Option(help="Set champion to this version without the gate (rollback).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Re-evaluate on this Tables directory if windows differ.")
    ] = None,
) -> None:
    """Move `champion` to the challenger if it passes the gate (or to --version N)."""
    tracking = load_settings().tracking()
    from training.promotion import promote

    with console.status("comparing challenger and champion"):
        try:
            decision = promote(tracking, version=version, data=data)
        except ValueError as err:
            fail(err)
    for check in decision.checks:
        console.print(f"  [{'green' if check.passed else 'red'}]{check}[/]")
    if decision.compared_on:
        console.print(f"  compared on: {decision.compared_on}")
    before = f"v{decision.previous}" if decision.previous else "none"
    if decision.promoted:
        name = tracking.registered_model
        console.print(f"[green]champion[/] = {name} v{decision.version} (was {before})")
    else:
        console.print(f"[red]refused[/]: v{decision.version} stays challenger; champion {before}")
        raise typer.Exit(code=1)


@app.command("tune", rich_help_panel=PANEL)
def tune_command(
    data: DataOption = None,
    source: SourceOption = "synthetic",
    trials: Annotated[int, typer.Option(min=1, help="Optuna trials.")] = 10,
    out: Annotated[Path, typer.Option(help="Where to write the best settings (JSON).")] = Path(
        "best_params.json"
    ),
) -> None:
    """Optuna search of the LightGBM settings, as nested MLflow runs under one parent."""
    from cli.render import progress

    tracking = load_settings().tracking()
    from training.tune import tune

    data_set = load(source, data)
    with progress() as bar:
        task = bar.add_task("tuning", total=trials)

        def advance(number: int, auc: float) -> None:
            bar.update(task, advance=1, description=f"trial {number}: AUC {auc:.4f}")

        result = tune(data_set, tracking, trials, progress=advance)
    out.write_text(json.dumps(result.best_params, indent=1))
    console.print(f"best validation AUC {result.best_auc:.4f} with {result.best_params}")
    console.print(f"[green]Wrote[/] {out}; train with it: stallguard train --params {out}")


@app.command("score", rich_help_panel=PANEL)
def score_command(
    out: Annotated[Path, typer.Option(help="Output file: .csv or .parquet.")],
    model: ModelOption = CHAMPION,
    data: DataOption = None,
    source: SourceOption = "synthetic",
    as_of: AsOfOption = None,
    lang: LangOption = "en",
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
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
    partitions: PartitionsOption = None,
) -> None:
    """Score every in-flight shipment in DATA (or every one as of --stage), by risk, into OUT."""
    if out.suffix.lower() not in (".csv", ".parquet"):  # fail before the slow part
        fail(f"--out must end in .csv or .parquet, got {out.name!r}")
    if stage is not None and stage not in ("purchase", "handoff"):
        fail(f"--stage must be one of purchase, handoff, got {stage!r}")
    if engine == "dask" and (stage is not None or recalibrate or source != "synthetic"):
        fail("--engine dask scores the parcels in flight of a Tables directory (synthetic), "
             "without --stage or --recalibrate")  # fmt: skip
    if partitions is not None and engine != "dask":
        fail("--partitions needs --engine dask")
    settings = load_settings()
    tracking = settings.tracking()
    if engine == "dask":
        cache = settings.tree_cache if settings.compile_trees else None
        _score_on_dask(out, load_model(model, tracking), data, partitions, as_of, lang, top,
                       (scheduler, workers, cache))  # fmt: skip
        return
    if scheduler or workers:
        fail("--scheduler and --workers need --engine dask")
    import pandas as pd

    from training.scoring import score, score_stage, write_scores

    data_set = load(source, data, weather_csv)
    predictor = load_model(model, tracking)
    if stage is not None:
        with console.status(f"scoring every shipment as of {stage}"):
            staged = score_stage(predictor, data_set.tables, stage, lang)
            write_scores(staged, out)
        flagged = int(staged["at_risk"].sum()) if len(staged) else 0
        console.print(
            f"[green]Wrote[/] {out}: {len(staged):,} shipments as of {stage}, {flagged:,} at risk"
        )
        return
    now = pd.Timestamp(as_of) if as_of is not None else data_set.now
    check_period(now, data_set.tables.shipments["created_at"].min(), data_set.now, "DATA")
    if recalibrate:
        _recalibrate(predictor, data_set, now)
    with console.status(f"scoring parcels in flight at {now:%Y-%m-%d %H:%M} UTC"):
        scores = score(predictor, data_set.tables, now, lang=lang)
    _write_in_flight(scores, out, top, data_set.tables.locale.timezone)


def _write_in_flight(scores: pd.DataFrame, out: Path, top: int, zone: str) -> None:
    """Write the in-flight ranking to `out`, say what it holds, show the `top` savable."""
    from training.scoring import write_scores

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
        print_table(f"Most at risk, not yet late ({zone})", at_risk_view(savable.head(top), zone))


def _score_on_dask(
    out: Path,
    predictor: Predictor,
    data: Path | None,
    partitions: str | None,
    as_of: dt.datetime | None,
    lang: str,
    top: int,
    cluster: tuple[str | None, int | None, Path | None],
) -> None:
    """`score` with the partitions scored on a Dask cluster (docs/scale.md)."""
    with open_engine("dask", *cluster) as runner:
        where = data or Path("data/simulated")
        tables, bounds = read_source(where, partitions, runner)
        now = as_of_or_latest(as_of, bounds, partitions or str(where))
        with console.status(f"scoring parcels in flight at {now:%Y-%m-%d %H:%M} UTC on dask"):
            scores = runner.score(predictor, tables, now, lang=lang)  # type: ignore[attr-defined]
    zone = predictor.context.locale.timezone if predictor.context is not None else "UTC"
    _write_in_flight(scores, out, top, zone)


@app.command("recalibrate", rich_help_panel=PANEL)
def recalibrate_command(
    model: ModelOption = CHAMPION,
    data: DataOption = None,
    source: SourceOption = "synthetic",
    out: Annotated[
        Path, typer.Option(help="Serving context directory to write recalibration.json into.")
    ] = Path("data/context"),
    as_of: AsOfOption = None,
    days: Annotated[
        float | None, typer.Option(min=1, help="Trailing window; default: the model's own.")
    ] = None,
) -> None:
    """Refit MODEL's risk map and ETA margins on DATA's recent outcomes, for serving.

    Run it daily next to `stallguard context`: serving loaded with that context directory
    uses the refit (and ignores one written for another model).
    """
    tracking = load_settings().tracking()
    import pandas as pd

    data_set = load(source, data)
    predictor = load_model(model, tracking)
    now = pd.Timestamp(as_of) if as_of is not None else data_set.now
    check_period(now, data_set.tables.shipments["created_at"].min(), data_set.now, "DATA")
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
        warn(
            f"too few settled parcels in the {window:g} days before {now:%Y-%m-%d}; keeping "
            "the model's own calibration"
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
        fail(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return dataclasses.replace(defaults, **values)


def load(source: str, data: Path | None, weather_csv: Path | None = None) -> TrainingData:
    """A source's data, with what its import dropped printed."""
    from training.sources import load_data

    try:
        with console.status("loading data") as status:
            loaded = load_data(source, data, lambda s: status.update(s), weather_csv)
    except (ValueError, FileNotFoundError) as err:
        fail(err)
    if loaded.import_report is not None and len(loaded.import_report):
        print_table(
            f"Import report ({source}): orders dropped or joins that failed", loaded.import_report
        )
    if loaded.rejections is not None and len(loaded.rejections):
        report_rejections(loaded.rejections, loaded.location)
    if loaded.tables.shipments.empty:
        fail(f"no valid shipments in {loaded.location}; see what was rejected above")
    return loaded


def load_model(
    uri: str, tracking: TrackingConfig, loader: Callable[[str], Predictor] | None = None
) -> Predictor:
    """The predictor at `uri`; a clear error naming the tracking store when there is none."""
    import mlflow

    from training.tracking import connect, load_predictor

    connect(tracking)
    try:
        with console.status(f"loading {uri}"):
            return (loader or load_predictor)(uri)
    except mlflow.exceptions.MlflowException as err:
        reason = err.message.rstrip(".")
        fail(
            f"cannot load {uri} from the tracking store {tracking.uri}: {reason}. Train one "
            "first (stallguard train), or point MLFLOW_TRACKING_URI at the store that has it"
        )
