"""MLflow on a temporary SQLite store: the run, the registry, the pyfunc round trip, the gate."""

import dataclasses
import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from contract.schema import OUTCOME_COLUMNS, PII_COLUMNS
from training.config import CHALLENGER, CHAMPION, GateConfig
from training.models import BoosterParams
from training.promotion import promote
from training.pyfunc import InputError, example_input, parse_input, to_output
from training.tracking import HEADLINE_METRICS, connect, load_predictor, log_training
from training.train import train

pytestmark = [pytest.mark.model, pytest.mark.slow]

REQUIRED_METRICS = {
    "risk_roc_auc",
    "risk_pr_auc",
    "risk_brier",
    "risk_ece",
    "eta_p50_mae_h",
    "eta_p10_p90_coverage",
    "foresight_oracle_risk_roc_auc",
    "hindsight_oracle_risk_roc_auc",
    "baseline_promise_eta_mae_h",
    "baseline_lane_eta_mae_h",
    "early_warning_recall_12h",
    "early_warning_precision",
    "reason_agreement",
}


def test_a_run_logs_metrics_window_commit_features_slices_and_plots(registered, tracking):
    client = connect(tracking)
    run = client.get_run(registered.run_id)
    assert set(run.data.metrics) >= REQUIRED_METRICS
    params = run.data.params
    assert {"window_start", "window_evaluate_from", "data_fingerprint", "lgb_num_leaves"} <= set(
        params
    )
    assert run.data.tags["git_commit"]
    files = {a.path for a in client.list_artifacts(registered.run_id)}
    assert {"features.json", "slices.csv", "data_window.json", "plots", "backtest"} <= files
    plots = {a.path for a in client.list_artifacts(registered.run_id, "plots")}
    assert {
        f"plots/{name}.png"
        for name in ("calibration_curve", "pr_curve", "roc_curve", "confusion_matrix")
    } <= plots


def test_a_run_records_both_windows_the_dataset_a_description_and_its_whole_duration(
    registered, tracking, trained, small_data
):
    client = connect(tracking)
    run = client.get_run(registered.run_id)
    params = run.data.params
    deployed_end = trained.predictor.info["window_deployed_train_end"]
    assert params["window_deployed_train_end"] == deployed_end
    assert params["refit"] == "True" and params["window_evaluate_from"] < deployed_end
    window = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=registered.run_id, artifact_path="data_window.json"
            )
        ).read_text()
    )
    assert window == trained.windows()
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.digest == small_data.fingerprint
    assert str(small_data.location.resolve()) in dataset.dataset.source
    assert {t.key: t.value for t in dataset.tags}["mlflow.data.context"] == "training"
    assert "Backtest: trained before" in run.data.tags["mlflow.note.content"]
    # The run starts when training did, so its duration covers the training, not the logging.
    assert run.info.start_time == int(trained.started_at * 1000)
    assert (run.info.end_time - run.info.start_time) / 1000 >= sum(trained.timings.values())


def test_version_tags_hold_the_headline_metrics_only(registered, tracking, trained):
    client = connect(tracking)
    tags = client.get_model_version(tracking.registered_model, registered.version).tags
    metric_tags = {k for k in tags if k in trained.evaluation.metrics}
    assert metric_tags == set(HEADLINE_METRICS)
    assert tags["window_deployed_train_end"] == trained.windows()["window_deployed_train_end"]
    slices = pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=registered.run_id, artifact_path="slices.csv")
    )
    assert set(slices["slice"]) == {"region_group", "service_level", "stage"}


def test_new_model_is_the_challenger(registered, tracking):
    client = connect(tracking)
    version = client.get_model_version_by_alias(tracking.registered_model, CHALLENGER)
    assert str(version.version) == registered.version == "1"
    assert version.tags["source"] == "synthetic"


def test_pyfunc_round_trip_by_alias_gives_the_same_predictions(
    registered, tracking, trained, small_data
):
    connect(tracking)
    model = mlflow.pyfunc.load_model(f"models:/{tracking.registered_model}@{CHALLENGER}")
    raw = example_input(small_data.tables, rows=6)
    served = model.predict(raw)
    tables, snaps = parse_input(raw)
    local = to_output(trained.predictor.predict(tables, snaps))
    pd.testing.assert_frame_equal(served.reset_index(drop=True), local, check_dtype=False)
    assert (served["eta_p10"] <= served["eta_p50"]).all()
    assert served["risk"].between(0, 1).all()


def test_signature_is_raw_input_without_outcomes_and_example_has_no_pii(registered, small_data):
    info = mlflow.models.get_model_info(registered.model_uri)
    inputs = set(info.signature.inputs.input_names())
    assert {"shipment_id", "created_at", "promised_at", "events", "dest_address"} <= inputs
    assert not inputs & set(OUTCOME_COLUMNS)
    optional = {c.name: c.required for c in info.signature.inputs.inputs}
    assert optional["payment_type"] is False and optional["payment_installments"] is False
    stored = Path(mlflow.artifacts.download_artifacts(registered.model_uri))
    # Parse the JSON files: they escape Korean text, so a plain text search could never fail.
    decoded = " ".join(
        json.dumps(json.loads(p.read_text()), ensure_ascii=False) for p in stored.rglob("*.json")
    )
    assert "010-0000-0000" in decoded, "the input example is where PII would be"
    ships = small_data.tables.shipments
    for column in PII_COLUMNS:
        for value in ships[column].dropna().unique():
            assert str(value) not in decoded, f"{column} leaked into the model artifacts"


def test_gate_first_champion_refuses_worse_accepts_tie_and_rolls_back(
    registered, tracking, trained, small_data, fast_config
):
    # Floors set wide: this test is about the gate's logic, not the small world's quality.
    gate = GateConfig(max_ece=0.2, min_auc=0.6, max_coverage_gap=0.2)
    first = promote(tracking, gate)
    assert first.promoted and first.compared_on == "absolute floors"
    client = connect(tracking)
    promoted = client.get_model_version(tracking.registered_model, "1")
    assert promoted.aliases == [CHAMPION], "a promoted version is no longer the challenger"
    assert (
        str(client.get_model_version_by_alias(tracking.registered_model, CHAMPION).version) == "1"
    )

    weak = dataclasses.replace(fast_config, params=BoosterParams(n_rounds=1, num_leaves=2))
    worse = train(small_data, weak)
    assert worse.evaluation.metrics["risk_roc_auc"] < trained.evaluation.metrics["risk_roc_auc"]
    logged = log_training(worse, small_data, weak, tracking)
    refused = promote(tracking, gate)
    assert not refused.promoted and refused.version == logged.version
    assert any(r.startswith("FAIL: risk_roc_auc") for r in refused.reasons)
    assert refused.compared_on.startswith("logged metrics")
    assert (
        str(client.get_model_version_by_alias(tracking.registered_model, CHAMPION).version) == "1"
    )
    tag = client.get_model_version(tracking.registered_model, logged.version).tags["promotion"]
    assert tag.startswith("refused")

    again = log_training(trained, small_data, fast_config, tracking)
    tie = promote(tracking, gate)
    assert tie.promoted and tie.version == again.version

    with pytest.raises(ValueError, match="has no version '99'"):
        promote(tracking, version="99")
    rollback = promote(tracking, version="1")
    assert rollback.promoted and rollback.previous == again.version
    assert (
        str(client.get_model_version_by_alias(tracking.registered_model, CHAMPION).version) == "1"
    )
    decisions = MlflowClient(tracking.uri).search_runs(
        [client.get_experiment_by_name("stallguard-promotions").experiment_id]
    )
    assert len(decisions) == 4
    assert json.loads(decisions[0].data.params["version"]) == 1


def test_loaded_predictor_is_the_bundle(registered, tracking, trained):
    connect(tracking)
    predictor = load_predictor(registered.model_uri)
    assert predictor.feature_names == trained.predictor.feature_names
    assert predictor.info["data_fingerprint"] == trained.predictor.info["data_fingerprint"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["promised_at"]), "missing required field.*promised_at"),
        (lambda f: f.assign(events="[{not json"), "field 'events' is not valid JSON"),
        (lambda f: f.assign(events='{"a": 1}'), "must be a list"),
        (lambda f: f.assign(weight_kg="heavy"), "weight_kg"),
        (lambda f: f.assign(as_of="yesterday"), "as_of"),
    ],
)
def test_bad_raw_input_names_the_field(small_data, change, message):
    raw = change(example_input(small_data.tables, rows=2))
    with pytest.raises(InputError, match=message):
        parse_input(raw)
