"""train -> promote -> evaluate -> score, as a data scientist runs them (real processes)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.cli, pytest.mark.slow]

STALLGUARD = Path(sys.executable).with_name("stallguard")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_mlflow")
    return {
        **os.environ,
        "COLUMNS": "250",
        # One thread each: pytest runs two workers on two cores, and OpenMP threads that
        # outnumber the cores spin instead of working (a training took 3x longer).
        "OMP_NUM_THREADS": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "STALLGUARD_ARTIFACTS": str(root / "art"),
    }


def _run(env, *args):
    return subprocess.run(
        [str(STALLGUARD), *args], capture_output=True, text=True, timeout=600, env=env, check=False
    )


@pytest.fixture(scope="module")
def trained_store(store, small_world_dir, tmp_path_factory):
    params = tmp_path_factory.mktemp("params") / "fast.json"
    params.write_text('{"n_rounds": 60, "num_leaves": 31}')
    # A two-month world: its 15-day calibration fold would be cross-fitted by default, which
    # over-covers this world's last weeks; the gate's floors are not what this test is about.
    result = _run(
        store,
        "train",
        "--data",
        str(small_world_dir),
        "--params",
        str(params),
        "--cross-fit-blocks",
        "0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "risk_roc_auc" in result.stdout and "registered stallguard v1" in result.stdout
    return store


def test_promote_then_score_writes_a_ranked_at_risk_list(trained_store, small_world_dir, tmp_path):
    promoted = _run(trained_store, "promote")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "champion = stallguard v1" in promoted.stdout

    out = tmp_path / "scores.csv"
    scored = _run(trained_store, "score", "--data", str(small_world_dir), "--out", str(out))
    assert scored.returncode == 0, scored.stdout + scored.stderr
    scores = pd.read_csv(out)
    assert {"shipment_id", "risk", "overdue", "eta_p50", "eta_p90", "reason_1", "reasons"} <= set(
        scores.columns
    )
    assert len(scores) > 0 and scores["risk"].is_monotonic_decreasing
    assert scores["shipment_id"].is_unique
    assert "Most at risk, not yet late" in scored.stdout
    assert scores["overdue"].dtype == bool

    parquet = tmp_path / "scores.parquet"
    korean = _run(
        trained_store,
        "score",
        "--data",
        str(small_world_dir),
        "--out",
        str(parquet),
        "--lang",
        "ko",
    )
    assert korean.returncode == 0
    frame = pd.read_parquet(parquet)
    assert frame["reasons"].str.contains("[가-힣]", regex=True).any()
    assert len(frame) == len(scores)


def _damaged_copy(source_dir: Path, target: Path) -> tuple[Path, list[str]]:
    """The world with bad rows of every kind a foreign Tables directory can hold."""
    from contract.tables import Tables

    tables = Tables.read(source_dir)
    ships = tables.shipments.copy()
    ids = ships["shipment_id"].tolist()
    ships.loc[ships["shipment_id"] == ids[-1], "weight_kg"] = -5.0
    ships.loc[ships["shipment_id"] == ids[-2], "weight_kg"] = 1e12
    ships.loc[ships["shipment_id"] == ids[-3], "dest_lat"] = float("inf")
    ships.loc[ships["shipment_id"] == ids[-4], "created_at"] = pd.Timestamp("0001-01-01", tz="UTC")
    ships = pd.concat([ships, ships.iloc[[0]]], ignore_index=True)  # a duplicate id
    ships = pd.concat([ships, ships.iloc[[1]].assign(shipment_id=None)], ignore_index=True)
    ships["weight_kg"] = ships["weight_kg"].astype(str)  # as a CSV export would hold it
    ships.loc[2, "weight_kg"] = "heavy"
    rejected = [ids[-1], ids[-2], ids[-3], ids[-4], ids[2]]  # the duplicate keeps its first
    events = pd.concat(
        [tables.scan_events, tables.scan_events.iloc[[0]].assign(shipment_id="NOBODY")]
    )
    tables.replace(shipments=ships, scan_events=events).write(target)
    return target, rejected


def test_score_reports_rejected_rows_and_scores_the_rest(trained_store, small_world_dir, tmp_path):
    data, rejected = _damaged_copy(small_world_dir, tmp_path / "damaged")
    out = tmp_path / "scores.csv"
    model = ("--model", "models:/stallguard/1")
    scored = _run(trained_store, "score", "--data", str(data), "--out", str(out), *model)
    text = scored.stdout + scored.stderr
    assert scored.returncode == 0, text
    assert "Traceback" not in text and "the data contract rejected" in text
    for rule in (
        "below minimum",
        "above maximum",
        "not a finite number",
        "outside 1990",
        "duplicate",
        "required value is missing",
        "unknown or rejected shipment",
    ):
        assert rule in text, rule
    assert not set(pd.read_csv(out)["shipment_id"]) & set(rejected)

    tables_dir = tmp_path / "no_carrier"
    from contract.tables import Tables

    tables = Tables.read(small_world_dir)
    tables.replace(shipments=tables.shipments.drop(columns=["carrier"])).write(tables_dir)
    dropped = _run(trained_store, "score", "--data", str(tables_dir), "--out", str(out), *model)
    assert dropped.returncode == 2, dropped.stdout + dropped.stderr
    assert "missing required column" in dropped.stdout and "no valid shipments" in dropped.stdout
    assert "Traceback" not in dropped.stdout + dropped.stderr


def test_a_refitted_model_is_evaluated_on_later_data_and_no_refit_on_its_own(
    store, small_data, small_world_dir, tmp_path
):
    from features.context import known_at

    env = {**store, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    cut = small_data.now - pd.Timedelta(days=12)
    early = tmp_path / "early"
    known = known_at(small_data.tables, cut)
    known.write(early)
    learned_to = known.scan_events["event_time"].max()  # the early data's "now"
    params = tmp_path / "fast.json"
    params.write_text('{"n_rounds": 40, "num_leaves": 15}')
    fast = ("--params", str(params), "--cross-fit-blocks", "0")
    refit = _run(env, "train", "--data", str(early), *fast)
    assert refit.returncode == 0, refit.stdout + refit.stderr
    assert "v1 (refitted model, learned up to" in refit.stdout

    own = _run(env, "evaluate", "--model", "models:/stallguard/1", "--data", str(early))
    assert own.returncode == 2 and "data that goes past its training data" in own.stdout
    later = _run(env, "evaluate", "--model", "models:/stallguard/1", "--data", str(small_world_dir))
    assert later.returncode == 0, later.stdout + later.stderr
    assert f"evaluation window: {learned_to:%Y-%m-%d %H:%M}" in later.stdout
    assert "eta_p10_p90_coverage" in later.stdout and "By slice" in later.stdout

    plain = _run(env, "train", "--data", str(early), *fast, "--no-refit")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "v2 (backtest model" in plain.stdout
    backtest = _run(env, "evaluate", "--model", "models:/stallguard/2", "--data", str(early))
    assert backtest.returncode == 0, backtest.stdout + backtest.stderr


def test_recalibrate_writes_a_refit_that_the_served_model_picks_up(
    trained_store, small_world_dir, tmp_path
):
    import json

    context = tmp_path / "context"
    built = _run(trained_store, "context", "--data", str(small_world_dir), "--out", str(context))
    assert built.returncode == 0, built.stdout + built.stderr
    args = ["--model", "models:/stallguard/1", "--data", str(small_world_dir)]
    result = _run(trained_store, "recalibrate", *args, "--out", str(context), "--days", "14")
    assert result.returncode == 0, result.stdout + result.stderr
    written = json.loads((context / "recalibration.json").read_text())
    assert written["days"] == 14 and written["risk_rows"] > 1_000
    assert "recalibrated on" in result.stdout

    # load as serving does, in a fresh process pointed at this store
    check = (
        "from pathlib import Path; from training.tracking import load_predictor as l; "
        f"s = l('models:/stallguard/1', context_dir=Path({str(context)!r})); "
        "p = l('models:/stallguard/1'); "
        "print(s.recalibration.days, p.recalibration is None)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        timeout=300,
        env=trained_store,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["14.0", "True"]  # trained without one (the default)

    early = _run(
        trained_store, "recalibrate", *args, "--out", str(context), "--as-of", "2020-01-01"
    )
    assert early.returncode == 1 and "too few settled parcels" in early.stdout


def test_clear_errors(trained_store, small_world_dir, tmp_path):
    bad_ext = _run(
        trained_store, "score", "--data", str(small_world_dir), "--out", str(tmp_path / "s.txt")
    )
    assert bad_ext.returncode == 2 and ".csv or .parquet" in bad_ext.stdout
    args = ["--data", str(small_world_dir), "--out", str(tmp_path / "s.csv")]
    no_model = _run(trained_store, "score", "--model", "models:/stallguard@nope", *args)
    assert no_model.returncode == 2 and "cannot load models:/stallguard@nope" in no_model.stdout
    no_version = _run(trained_store, "promote", "--version", "99")
    assert no_version.returncode == 2 and "has no version '99'" in no_version.stdout
    no_data = _run(trained_store, "train", "--data", str(tmp_path / "missing"))
    assert no_data.returncode == 2 and "not a Tables directory" in no_data.stdout


def test_tune_writes_settings_that_train_accepts(store, small_world_dir, tmp_path):
    best = tmp_path / "best.json"
    tuned = _run(store, "tune", "--data", str(small_world_dir), "--trials", "2", "--out", str(best))
    assert tuned.returncode == 0, tuned.stdout + tuned.stderr
    assert set(pd.read_json(best, typ="series").index) >= {"num_leaves", "learning_rate"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"leaves": 3}')
    refused = _run(store, "train", "--data", str(small_world_dir), "--params", str(bad))
    assert refused.returncode == 2 and "unknown setting(s) leaves" in refused.stdout
