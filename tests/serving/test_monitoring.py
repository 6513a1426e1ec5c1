"""Monitoring on a replay of a hub outage the model never saw (tests/support/disruption.py).

The world's Daegu hub sorts nothing for two days; the model trained a week before. What the
watch recorded must show it: hub-load drift and a jump in the parcels expected late within
hours, realised figures once outcomes land, and a post-incident review that names the hub and
counts the parcels the simulator says waited there.
"""

from __future__ import annotations

import pandas as pd
import pytest
from support.disruption import (
    EVERY,
    HUB,
    OUTAGE_START,
    REPLAY_DAYS,
    REPLAY_FROM,
    SEOUL,
    replay_disruption,
)

from serving.alerts import AlertStore
from serving.monitoring import records
from serving.monitoring.incident import review
from serving.monitoring.report import incident_files, monitoring_files
from serving.monitoring.summary import summarize
from serving.watch.store import StateStore
from sources.synthetic import read_hidden_causes, read_hub_outages

pytestmark = [pytest.mark.serving, pytest.mark.slow]
HOUR = pd.Timedelta(hours=1)
REPLAY_END = REPLAY_FROM + pd.Timedelta(days=REPLAY_DAYS)
# How soon each signal must follow the outage's start (measured: docs/monitoring.md).
DRIFT_WITHIN_H = 36
EXPECTED_LATE_WITHIN_H = 48
REALISED_WITHIN_H = 72


@pytest.fixture(scope="module")
def outage(tmp_path_factory, fast_config):
    return replay_disruption(tmp_path_factory.mktemp("outage"), fast_config)


@pytest.fixture(scope="module")
def stores(outage):
    state, outbox = StateStore(outage.state_url), AlertStore(outage.outbox_url)
    yield state, outbox
    state.close()
    outbox.close()


def _summary(outage, stores, until: pd.Timestamp):
    state, outbox = stores
    predictor = outage.predictor
    return summarize(
        state,
        outbox,
        predictor.reference,
        predictor.threshold,
        outage.label,
        predictor.info.get("backtest", {}),
        SEOUL,
        since=until - pd.Timedelta(days=7),
        until=until,
    )


@pytest.fixture(scope="module")
def timeline(outage, stores):
    """Every finding as monitoring would have shown it after each pass: (as_of, kind, subject)."""
    state, _ = stores
    passes = records.passes(state, REPLAY_FROM, REPLAY_END + HOUR)
    rows = []
    for as_of in passes["as_of"]:
        for finding in _summary(outage, stores, as_of + pd.Timedelta(seconds=1)).findings:
            rows.append({"as_of": as_of, "kind": finding.kind, "subject": finding.subject})
    return pd.DataFrame(rows, columns=["as_of", "kind", "subject"]), passes


def _first(frame: pd.DataFrame, mask: pd.Series) -> pd.Timestamp | None:
    hits = frame.loc[mask, "as_of"]
    return hits.min() if len(hits) else None


def test_every_pass_kept_its_drift_counts(outage, timeline):
    _, passes = timeline
    assert len(passes) == int(REPLAY_DAYS * 24 / (EVERY / HOUR))
    state = StateStore(outage.state_url)
    counts = records.pass_counts(state, REPLAY_FROM, REPLAY_END + HOUR)
    assert [c[0] for c in counts] == list(passes["as_of"])
    assert set(outage.predictor.reference.profiles) <= set(counts[0][2])


def test_hub_load_drift_flags_the_outage_within_hours_and_not_before(timeline):
    findings, _ = timeline
    hub = (findings["kind"] == "feature_drift") & (findings["subject"] == "hub_load")
    assert _first(findings, hub & (findings["as_of"] < OUTAGE_START)) is None
    first = _first(findings, hub)
    assert first is not None
    assert first - OUTAGE_START <= pd.Timedelta(hours=DRIFT_WITHIN_H)


def test_live_figures_flag_it_too(timeline):
    findings, _ = timeline
    expected = findings["kind"] == "expected_late"
    realised = findings["kind"].isin(["calibration", "late_rate_gap", "auc_drop"])
    before = findings["as_of"] < OUTAGE_START
    assert _first(findings, (expected | realised) & before) is None
    first_expected, first_realised = _first(findings, expected), _first(findings, realised)
    assert first_expected is not None and first_realised is not None
    assert first_expected - OUTAGE_START <= pd.Timedelta(hours=EXPECTED_LATE_WITHIN_H)
    assert first_realised - OUTAGE_START <= pd.Timedelta(hours=REALISED_WITHIN_H)


def test_label_free_estimate_tracks_the_realised_late_rate_until_the_outage(outage, stores):
    summary = _summary(outage, stores, REPLAY_END + HOUR)
    daily = summary.daily.set_index("day")
    normal = daily[(daily.index < OUTAGE_START.tz_convert(SEOUL).date()) & (daily["settled"] == 1)]
    assert len(normal) >= 3
    gap = (normal["late_rate"] - normal["estimated_late_rate"]).abs()
    assert gap.mean() <= 0.04, normal[["late_rate", "estimated_late_rate"]]
    # The outage's first day: far more late than the risks of that morning expected.
    first = daily.loc[OUTAGE_START.tz_convert(SEOUL).date()]
    assert first["late_rate"] - first["estimated_late_rate"] > 0.08
    # Parcels in flight: the estimate climbs as the risks learn of the backlog.
    state, _ = stores
    log = records.logged_predictions(state, REPLAY_FROM, REPLAY_END + HOUR)
    per_pass = log.groupby("as_of")["risk"].mean()
    assert (
        per_pass[per_pass.index >= OUTAGE_START].max()
        > 3 * per_pass[per_pass.index < OUTAGE_START].mean()
    )


def _observable_waits(outage, end: pd.Timestamp, stuck_hours: float) -> set[str]:
    """The simulator's truth: parcels that waited at the hub, as far as the end could see."""
    _, waits = read_hub_outages(outage.world)
    scans = outage.tables.scan_events
    arrivals = scans[(scans["event_type"] == "HUB_IN") & (scans["location_id"] == HUB)]
    first_in = arrivals.groupby("shipment_id")["event_time"].min()
    arrived = first_in.reindex(waits["shipment_id"]).to_numpy()
    seen = (arrived >= OUTAGE_START) & (arrived <= end - pd.Timedelta(hours=stuck_hours))
    return set(waits.loc[seen, "shipment_id"])


def test_incident_review_names_the_hub_and_counts_the_parcels(outage, stores, tmp_path):
    state, outbox = stores
    end = REPLAY_END
    causes = read_hidden_causes(outage.world)
    incident = review(
        state, outbox, outage.predictor.threshold, OUTAGE_START, end, SEOUL, causes=causes
    )
    assert incident.stalled == [HUB]
    truth = _observable_waits(outage, end, 12.0)
    assert len(truth) >= 40
    assert set(incident.affected["shipment_id"]) == truth
    summary = incident.summary
    assert summary["parcels"] == len(truth)
    assert summary["flagged_before_promise"] >= 0.8 * len(truth)
    assert summary["lead_h_median"] is not None and summary["lead_h_median"] > 0
    # What happened to them: the hub's queue, which the reasons mostly name.
    main = incident.causes.groupby("cause")["parcels"].sum()
    assert main.idxmax() == "HUB_BACKLOG" and main["HUB_BACKLOG"] >= 0.9 * main.sum()
    assert summary["reason_agreement"] >= 0.6
    # Daegu, the hub's own region, is where lateness jumped.
    jumped = incident.regions.loc[incident.regions["jumped"], "dest_region"].tolist()
    assert "Daegu" in jumped
    # One hub asked for: the same parcels; another hub: none stuck there.
    only = review(state, outbox, outage.predictor.threshold, OUTAGE_START, end, SEOUL, hub=HUB)
    assert set(only.affected["shipment_id"]) == truth
    other = review(
        state, outbox, outage.predictor.threshold, OUTAGE_START, end, SEOUL, hub="HUB-DAEJEON-MEGA"
    )
    assert other.summary["parcels"] == 0 or not other.places["stalled"].any()
    files = incident_files(incident, tmp_path)
    markdown = files["markdown"].read_text()
    assert HUB in markdown and f"**{len(truth)}**" in markdown
    assert "HUB_BACKLOG" in files["html"].read_text()


def test_review_refuses_bad_windows_and_unknown_places(outage, stores):
    state, outbox = stores
    threshold = outage.predictor.threshold
    with pytest.raises(ValueError, match="before"):
        review(state, outbox, threshold, REPLAY_END, OUTAGE_START, SEOUL)
    with pytest.raises(ValueError, match="--hub 'HUB-NOWHERE'"):
        review(state, outbox, threshold, OUTAGE_START, REPLAY_END, SEOUL, hub="HUB-NOWHERE")
    with pytest.raises(ValueError, match="no scans"):
        review(
            state,
            outbox,
            threshold,
            pd.Timestamp("2030-01-01", tz="UTC"),
            pd.Timestamp("2030-01-02", tz="UTC"),
            SEOUL,
        )


def test_monitoring_report_and_json(outage, stores, tmp_path):
    summary = _summary(outage, stores, REPLAY_END + HOUR)
    out = summary.out()
    assert out.model_version == "outage/1" and out.timezone == SEOUL
    assert {d["day"] for d in out.daily} >= {"2025-04-22", "2025-04-23"}
    assert out.in_flight.parcels > 50 and sum(out.in_flight.risk_histogram) == out.in_flight.parcels
    assert out.alerts_total["alerted"] > 0 and 0 < out.alerts_total["precision"] <= 1
    kinds = {f.kind for f in out.findings}
    assert {"feature_drift", "expected_late"} <= kinds
    files = monitoring_files(summary, tmp_path)
    html = files["report"].read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "retrain" in html or "recalibrate" in html
    assert files["json"].read_text().startswith("{")
