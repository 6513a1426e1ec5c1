"""The service class in process: answers, limits, errors, alerts and model info."""

from __future__ import annotations

import pandas as pd
import pytest

from serving.alerts import late_key

pytestmark = pytest.mark.serving


@pytest.fixture()
def service(serving_env, monkeypatch, tmp_path):
    from serving.service import Stallguard

    for key, value in serving_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STALLGUARD_OUTBOX_URL", f"sqlite:///{tmp_path / 'outbox.db'}")
    monkeypatch.setenv("STALLGUARD_MAX_BATCH", "300")
    return Stallguard()


def shipments(rows):
    from serving.schemas import ShipmentIn

    return [ShipmentIn.model_validate(r) for r in rows]


def test_predict_answers_each_shipment_like_the_predictor(service, body, small_data, trained):
    from serving.inference import to_tables

    rows = body(20)
    answer = service.predict(shipments(rows), lang="ko")
    assert [p.shipment_id for p in answer.predictions] == [r["shipment_id"] for r in rows]
    assert answer.model_version == "stallguard/1"
    tables, snaps = to_tables(shipments(rows), pd.Timestamp.now(tz="UTC"))
    expected = trained.predictor.predict(tables, snaps)
    for p, (_, e) in zip(answer.predictions, expected.iterrows(), strict=True):
        assert p.risk == pytest.approx(e["risk"], abs=1e-6)
        assert p.eta_p10 <= p.eta_p50 <= p.eta_p90
        assert pd.Timestamp(p.eta_p50) == e["eta_p50"]
        if isinstance(e["reason_1"], str):  # parcels at 20% risk or more are explained
            assert p.reasons[0].code == e["reason_1"]
            assert any("\uac00" <= ch <= "\ud7a3" for ch in p.reasons[0].text)  # Korean
        else:
            assert p.reasons == [] and p.risk < 0.2
    assert any(p.reasons for p in answer.predictions)


def test_batch_limit_and_contract_errors_name_the_problem(service, body):
    from serving.service import BadInput, BatchTooLarge

    with pytest.raises(BatchTooLarge, match=r"301 shipments.*limit is 300"):
        service.predict(shipments((body(100) * 4)[:301]))  # the size is checked first
    rows = body(3)
    rows[2]["shipment_id"] = rows[0]["shipment_id"]
    with pytest.raises(BadInput, match="appears more than once"):
        service.predict(shipments(rows))
    with pytest.raises(BadInput, match="no shipments"):
        service.predict([])


def test_unknown_categories_are_normal_input(service, body):
    rows = body(2)
    rows[0].update(service_level="DRONE", carrier="NEW_CARRIER", dest_region="Atlantis")
    rows[1].update(dest_lat=None, dest_lon=None, dest_postcode=None, recipient_phone=None)
    answer = service.predict(shipments(rows))
    assert all(0.0 <= p.risk <= 1.0 for p in answer.predictions)


def test_alerts_are_emitted_once_and_enqueued(service, body):
    rows = body(200)
    first = service.alerts(shipments(rows), lang="en")
    assert first.evaluated == 200
    assert first.alerts, "some of 200 parcels in flight should be at risk"
    for alert in first.alerts:
        assert alert.kind == "LATE" and alert.risk >= service.policy.enter
        assert alert.key == late_key(alert.shipment_id, alert.promised_at) and alert.message
    assert service.alerts(shipments(rows), lang="en").alerts == []  # idempotent
    assert service.store.counts().get("pending", 0) == len(first.alerts)


def test_model_info_names_version_run_window_and_metrics(service, champion):
    info = service.model_info()
    assert info.version == "1" and info.run_id == champion.run_id
    assert {"start", "evaluate_from", "now"} <= set(info.window)
    assert {"risk_roc_auc", "risk_ece", "eta_p10_p90_coverage"} <= set(info.metrics)


def test_no_champion_fails_fast_with_the_fix(serving_env, monkeypatch, tmp_path):
    from serving.model_source import ModelNotFound
    from serving.service import Stallguard

    for key, value in serving_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STALLGUARD_OUTBOX_URL", f"sqlite:///{tmp_path / 'outbox.db'}")
    monkeypatch.setenv("STALLGUARD_MODEL_URI", "models:/stallguard@nobody")
    with pytest.raises(ModelNotFound, match="make train"):
        Stallguard()
