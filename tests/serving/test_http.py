"""End to end: a real `bentoml serve` process on a free port, called over HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = [pytest.mark.serving, pytest.mark.slow]

TOKEN = "test-token-123"


@pytest.fixture(scope="module")
def webhook():
    from serving.launcher import WebhookReceiver

    with WebhookReceiver(fail_first=2) as receiver:  # the first two deliveries get a 503
        yield receiver


@pytest.fixture(scope="module")
def server(serving_env, webhook, tmp_path_factory):
    from serving.launcher import running_service

    root = tmp_path_factory.mktemp("http_service")
    log = root / "service.log"
    env = {
        **serving_env,
        "STALLGUARD_OUTBOX_URL": f"sqlite:///{root / 'outbox.db'}",
        "STALLGUARD_API_TOKEN": TOKEN,
        "STALLGUARD_MAX_BATCH": "100",
        "STALLGUARD_WEBHOOK_URL": webhook.url,
    }
    with (
        running_service(env, log_file=log) as url,
        httpx.Client(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as client,
    ):
        yield client, log


def test_predict_over_http(server, body):
    client, _ = server
    rows = body(10)
    answer = client.post("/predict", json={"shipments": rows, "lang": "en"})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["shipment_id"] for p in predictions] == [r["shipment_id"] for r in rows]
    first = predictions[0]
    assert 0 <= first["risk"] <= 1 and first["model_version"] == "stallguard/1"
    assert first["eta_p10"] <= first["eta_p50"] <= first["eta_p90"]  # ISO strings, same zone
    assert first["reasons"][0]["text"] and first["reasons"][0]["code"]


def test_bad_requests_get_4xx_naming_the_problem(server, body):
    client, _ = server
    broken = client.post(
        "/predict", content=b'{"shipments": [', headers={"content-type": "application/json"}
    )
    assert 400 <= broken.status_code < 500
    rows = body(2)
    rows[1]["weight_kg"] = "heavy"
    wrong_type = client.post("/predict", json={"shipments": rows})
    assert wrong_type.status_code in (400, 422) and "weight_kg" in wrong_type.text
    rows = body(1)
    rows[0]["events"] = [{"event_time": "2025-10-01T00:00:00Z", "event_type": "TELEPORTED"}]
    bad_event = client.post("/predict", json={"shipments": rows})
    assert bad_event.status_code in (400, 422) and "event_type" in bad_event.text
    too_many = client.post("/predict", json={"shipments": body(101)})
    assert too_many.status_code == 413 and "limit is 100" in too_many.text
    bad_lang = client.post("/predict", json={"shipments": body(1), "lang": "fr"})
    assert bad_lang.status_code in (400, 422) and "lang" in bad_lang.text


def test_payment_attributes_are_optional_inputs_checked_by_field(server, body):
    client, _ = server
    rows = body(2)
    rows[0].update(payment_type="boleto", payment_installments=3)
    answer = client.post("/predict", json={"shipments": rows})
    assert answer.status_code == 200, answer.text
    rows[1]["payment_installments"] = 500
    too_many = client.post("/predict", json={"shipments": rows})
    assert too_many.status_code in (400, 422) and "payment_installments" in too_many.text


def test_unknown_categories_are_answered(server, body):
    client, _ = server
    rows = body(2)
    rows[0].update(service_level="DRONE", dest_region="Atlantis", carrier="NEW")
    answer = client.post("/predict", json={"shipments": rows})
    assert answer.status_code == 200, answer.text


def test_token_is_required_on_the_api_but_not_on_probes(server, body):
    client, _ = server
    anonymous = httpx.post(f"{client.base_url}/predict", json={"shipments": body(1)})
    assert anonymous.status_code == 401
    wrong = httpx.get(f"{client.base_url}/model", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert httpx.get(f"{client.base_url}/healthz").status_code == 200
    assert httpx.get(f"{client.base_url}/readyz").status_code == 200


def test_model_and_metrics_endpoints(server, body, champion):
    client, _ = server
    info = client.get("/model").json()
    assert info["version"] == "1" and info["run_id"] == champion.run_id
    assert "risk_roc_auc" in info["metrics"]
    client.post("/predict", json={"shipments": body(3)})
    metrics = httpx.get(f"{client.base_url}/metrics").text
    assert "stallguard_predictions_total" in metrics
    assert "stallguard_rejected_inputs_total" in metrics


def test_alerts_reach_a_webhook_that_fails_at_first(server, body, webhook):
    client, _ = server
    rows = body(100)
    answer = client.post("/alerts", json={"shipments": rows, "lang": "ko"})
    assert answer.status_code == 200, answer.text
    alerts = answer.json()["alerts"]
    assert alerts, "some of 100 parcels in flight should be at risk"
    assert webhook.wait_for(len(alerts), timeout=60), "the sender retries until delivered"
    keys = {r["_key"] for r in webhook.received}
    assert keys == {a["key"] for a in alerts}
    assert webhook.requests >= len(alerts) + 2  # the two 503s were retried
    again = client.post("/alerts", json={"shipments": rows, "lang": "ko"}).json()
    assert again["alerts"] == []


def test_no_pii_in_the_service_log(server, body):
    client, log = server
    rows = body(30)
    client.post("/predict", json={"shipments": rows})
    client.post("/alerts", json={"shipments": rows})
    rows[0]["weight_kg"] = "heavy"  # errors must not echo personal data into the log either
    client.post("/predict", json={"shipments": rows})
    text = log.read_text(errors="replace")
    assert "POST /predict" in text or "/predict" in text  # the log is the service's
    for row in rows:
        for field in ("dest_address", "recipient_phone"):
            if row[field]:
                assert row[field] not in text, f"{field} leaked into the log"
    assert json.dumps(rows[0]["dest_address"])[1:-1] not in text
