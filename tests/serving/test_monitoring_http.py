"""Monitoring as users reach it: `GET /monitoring`, the gauges on `/metrics`, and the
`stallguard monitor` and `stallguard incident` commands, on what a real service recorded."""

from __future__ import annotations

import re

import httpx
import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from cli.demo.processes import running_service
from serving.alerts import AlertStore
from serving.watch.replay import Replay, run_replay
from serving.watch.targets import HttpTarget

pytestmark = [pytest.mark.serving, pytest.mark.slow]

TOKEN = "monitor-token"


@pytest.fixture(scope="module")
def watched(serving_env, small_data, tmp_path_factory):
    """A service on the champion, fed two days of replay with a pass every three hours."""
    root = tmp_path_factory.mktemp("monitoring")
    env = {
        **serving_env,
        "STALLGUARD_STATE_URL": f"sqlite:///{root / 'state.db'}",
        "STALLGUARD_OUTBOX_URL": f"sqlite:///{root / 'outbox.db'}",
        "STALLGUARD_API_TOKEN": TOKEN,
        "STALLGUARD_WATCH_EVERY": "0",
        "STALLGUARD_PII_KEY": "monitor-key",
    }
    start = small_data.now - pd.Timedelta(days=6)
    replay = Replay(small_data.tables, start, 2, pd.Timedelta(hours=3), history_days=21)
    with running_service(env, log_file=root / "service.log") as url:
        target = HttpTarget(url, TOKEN)
        summary = run_replay(replay, target)
        target.close()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
            yield {
                "api": api,
                "url": url,
                "env": env,
                "root": root,
                "replay": replay,
                "summary": summary,
            }


def test_get_monitoring_reports_what_the_passes_logged(watched):
    api = watched["api"]
    answer = api.get("/monitoring")
    assert answer.status_code == 200, answer.text
    m = answer.json()
    passes = pd.DataFrame(m["passes"])
    assert len(passes) == watched["replay"].steps
    assert m["in_flight"]["parcels"] == passes["scored"].iloc[-1]
    assert m["in_flight"]["at_risk"] == passes["at_risk"].iloc[-1]
    assert sum(d["predictions"] for d in m["daily"]) == passes["scored"].sum()
    assert m["model_version"] == "stallguard/1" and m["timezone"] == "Asia/Seoul"
    assert any(d["settled"] and d["settled"] > 0.5 for d in m["daily"])
    for day in m["daily"]:
        assert 0 <= day["estimated_late_rate"] <= 1
    families = {d["family"] for d in m["drift_latest"]}
    assert {"hub_load", "progress", "prediction"} <= families
    assert set(m["backtest"]) >= {"risk_roc_auc", "risk_ece", "eval_late_rate"}
    by_region = sum(r["parcels"] for r in m["alert_regions"])
    assert by_region == sum(d["parcels"] for d in m["alerts"]) == m["alerts_total"]["parcels"]
    for finding in m["findings"]:
        assert finding["kind"] and finding["subject"] and finding["message"]
    # A window: only the passes in it.
    since = passes["as_of"].iloc[-3]
    window = api.get("/monitoring", params={"since": since}).json()
    assert len(window["passes"]) == 3


def test_get_monitoring_refuses_bad_windows_and_strangers(watched):
    api = watched["api"]
    assert api.get("/monitoring", params={"since": "2025-01-01T00:00"}).status_code == 400
    backwards = {"since": "2025-02-01T00:00Z", "until": "2025-01-01T00:00Z"}
    assert api.get("/monitoring", params=backwards).status_code == 400
    stranger = httpx.get(f"{watched['url']}/monitoring", timeout=30)
    assert stranger.status_code == 401


def _gauges(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        match = re.match(r"^(stallguard_[a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def test_metrics_carry_the_watch_gauges(watched):
    api = watched["api"]
    m = api.get("/monitoring").json()
    gauges = _gauges(httpx.get(f"{watched['url']}/metrics", timeout=30).text)
    assert gauges["stallguard_in_flight"] == m["in_flight"]["parcels"]
    assert gauges['stallguard_model_info{version="stallguard/1"}'] == 1.0
    by_risk = sum(v for k, v in gauges.items() if k.startswith("stallguard_risk_parcels{"))
    assert by_risk == m["in_flight"]["parcels"]
    outbox = AlertStore(watched["env"]["STALLGUARD_OUTBOX_URL"])
    statuses = sum(v for k, v in gauges.items() if k.startswith("stallguard_outbox_alerts{"))
    assert statuses == len(outbox.rows()) == watched["summary"].alerts
    for row in m["drift_latest"]:
        key = f'stallguard_drift_score{{family="{row["family"]}"}}'
        assert gauges[key] == pytest.approx(row["score"])
    assert 'stallguard_live_quality{metric="late_rate"}' in gauges
    assert gauges["stallguard_context_age_seconds"] >= 0


@pytest.fixture()
def cli_env(watched, monkeypatch):
    for name, value in watched["env"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    from cli.settings import load_settings

    load_settings.cache_clear()
    yield watched
    load_settings.cache_clear()


def test_monitor_command_writes_the_report_and_logs_it_to_mlflow(cli_env, serving_tracking):
    out = cli_env["root"] / "report"
    result = CliRunner().invoke(app, ["monitor", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Live quality by day" in result.output and "Logged to MLflow" in result.output
    assert (out / "report.html").exists() and (out / "quality.png").exists()
    run_id = re.search(r"run ([0-9a-f]{32})", result.output).group(1)
    client = mlflow.MlflowClient(serving_tracking.uri, serving_tracking.uri)
    run = client.get_run(run_id)
    version = client.get_model_version("stallguard", "1")
    assert run.info.experiment_id == client.get_run(version.run_id).info.experiment_id
    assert run.data.tags["stallguard.kind"] == "monitoring"
    assert run.data.tags["stallguard.model_run_id"] == version.run_id
    assert "settled_days" in run.data.metrics and "findings" in run.data.metrics
    logged = {f.path for f in client.list_artifacts(run_id, "monitoring")}
    assert {"monitoring/report.html", "monitoring/monitoring.json"} <= logged
    backwards = CliRunner().invoke(
        app, ["monitor", "--since", "2025-02-01", "--until", "2025-01-01", "--no-log"]
    )
    assert backwards.exit_code != 0 and "must be before" in backwards.output


def test_incident_command_writes_the_review(cli_env, small_world_dir):
    replay = cli_env["replay"]
    out = cli_env["root"] / "incident"
    args = ["incident", "--from", replay.start.isoformat(), "--to", replay.end.isoformat()]
    result = CliRunner().invoke(app, [*args, "--data", str(small_world_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Affected parcels" in result.output
    markdown = (out / "incident.md").read_text()
    assert markdown.startswith("# Incident review") and "## What stalled" in markdown
    assert (out / "incident.html").read_text().startswith("<!doctype html>")
    unknown = CliRunner().invoke(app, [*args, "--hub", "HUB-NOWHERE", "--out", str(out)])
    assert unknown.exit_code != 0 and "HUB-NOWHERE" in unknown.output
