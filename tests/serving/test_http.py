"""End to end: a real `bentoml serve` process on a free port, called over HTTP."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

pytestmark = [pytest.mark.serving, pytest.mark.slow]

TOKEN = "test-token-123"
WEBHOOK_TOKEN = "hook-token-456"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"stallguard-test-signing-key-32by").decode()
MAX_BODY = 2_000_000
# Marked personal data: none of it may reach the service log, whatever the request looks like.
ADDRESS = "서울특별시 마크구 표식로 77-7 PII-ADDRESS-MARK"
PHONE = "010-9876-5432"


@pytest.fixture(scope="module")
def webhook():
    from cli.demo.receiver import WebhookReceiver

    with WebhookReceiver(statuses=(503, 503)) as receiver:  # the first two get a 503
        yield receiver


@pytest.fixture(scope="module")
def server(serving_env, webhook, tmp_path_factory):
    from cli.demo.processes import running_service

    root = tmp_path_factory.mktemp("http_service")
    log = root / "service.log"
    env = {
        **serving_env,
        "STALLGUARD_OUTBOX_URL": f"sqlite:///{root / 'outbox.db'}",
        "STALLGUARD_API_TOKEN": TOKEN,
        "STALLGUARD_MAX_BATCH": "100",
        "STALLGUARD_MAX_BODY_BYTES": str(MAX_BODY),
        "STALLGUARD_WEBHOOK_URL": webhook.url,
        "STALLGUARD_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "STALLGUARD_WEBHOOK_SECRET": WEBHOOK_SECRET,
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


def test_batches_and_single_parcels_get_the_same_answers(server, body):
    # A parcel's answer does not depend on what else is in the request (the small-batch
    # paths of the features, one-row categories) when its time is given.
    client, _ = server
    rows = body(40)
    batch = client.post("/predict", json={"shipments": rows})
    assert batch.status_code == 200, batch.text
    by_id = {p["shipment_id"]: p for p in batch.json()["predictions"]}
    assert list(by_id) == [r["shipment_id"] for r in rows]
    for row in rows[:3]:
        single = client.post("/predict", json={"shipments": [row]})
        assert single.status_code == 200, single.text
        assert single.json()["predictions"] == [by_id[row["shipment_id"]]]


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


def _one_shape(answer: httpx.Response, status: int) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"status", "error", "details"}, body
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]
    assert all(set(d) == {"field", "problem"} for d in body["details"])
    return body


def test_every_4xx_has_one_body_shape(server, body):
    client, _ = server
    broken = client.post(
        "/predict", content=b'{"shipments": [', headers={"content-type": "application/json"}
    )
    _one_shape(broken, 400)
    rows = body(2)
    rows[1]["weight_kg"] = "heavy"
    wrong_type = _one_shape(client.post("/predict", json={"shipments": rows}), 400)
    assert wrong_type["details"][0]["field"] == "shipments.1.weight_kg"
    assert "heavy" not in json.dumps(wrong_type)  # inputs are never echoed
    anonymous = httpx.post(f"{client.base_url}/alerts", json={"shipments": body(1)})
    _one_shape(anonymous, 401)
    assert (
        "too many"
        not in _one_shape(client.post("/predict", json={"shipments": body(101)}), 413)["error"]
    )
    empty = _one_shape(client.post("/alerts", json={"shipments": []}), 422)
    assert "no shipments" in empty["error"]
    rows = body(1)
    rows[0]["promised_at"] = "2000-01-01T00:00:00Z"
    assert (
        "promised_at" in _one_shape(client.post("/predict", json={"shipments": rows}), 422)["error"]
    )


def test_one_offline_openapi_page_lists_every_route(server, body):
    client, _ = server
    page = httpx.get(f"{client.base_url}/")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "https://" not in page.text and "http://" not in page.text  # nothing from a CDN
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert httpx.get(f"{client.base_url}{asset}").status_code == 200, asset
    docs = httpx.get(f"{client.base_url}/docs", follow_redirects=True)
    assert docs.url.path == "/" and "swagger-ui" in docs.text  # not FastAPI's CDN page
    spec = httpx.get(f"{client.base_url}/docs.json").json()
    assert spec["info"]["title"] == "Stallguard" and spec["info"]["version"] != "None"
    assert "BentoML" not in spec["info"]["description"]
    assert {"/predict", "/alerts", "/model", "/healthz", "/readyz", "/metrics"} <= set(
        spec["paths"]
    )
    for route in ("/predict", "/alerts"):
        operation = spec["paths"][route]["post"]
        assert operation["description"]
        example = operation["requestBody"]["content"]["application/json"]["example"]
        answer = client.post(route, json=example)  # the example is a working request
        assert answer.status_code == 200, answer.text
        assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert spec["paths"]["/model"]["get"]["description"]


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
    assert 'stallguard_requests_total{route="/predict",status="200"}' in metrics


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
    assert len(webhook.requests) >= len(alerts) + 2  # the two 503s were retried
    # The service's sender authenticates with STALLGUARD_WEBHOOK_TOKEN and signs every
    # delivery with STALLGUARD_WEBHOOK_SECRET (checked with the Standard Webhooks library).
    assert {r.authorization for r in webhook.requests} == {f"Bearer {WEBHOOK_TOKEN}"}
    verifier = Webhook(WEBHOOK_SECRET)
    for request in webhook.requests:
        envelope = verifier.verify(request.raw, request.headers)
        assert envelope["type"] == "shipment.at_risk" and envelope["data"]["key"] == request.key
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


def _field_error(answer: httpx.Response, field: str, status: int = 400) -> dict:
    body = _one_shape(answer, status)
    assert field in body["error"] or any(field in d["field"] for d in body["details"]), body
    return body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("as_of", "9999-12-31T23:59:59Z"),
        ("as_of", "1900-01-01T00:00:00Z"),
        ("created_at", "0001-01-01T00:00:00Z"),
        ("promised_at", "2150-01-01T00:00:00Z"),
        ("shipment_id", ""),
        ("shipment_id", "KR1\nCRITICAL forged log line"),
        ("shipment_id", "x" * 65),
        ("dest_address", "a" * 301),
        ("seller_id", "S 1"),
        ("weight_kg", -1),
        ("weight_kg", 1e12),
        ("dest_lat", 91),
    ],
)
def test_out_of_range_values_get_a_4xx_naming_the_field(server, body, field, value):
    client, _ = server
    rows = body(1)
    rows[0][field] = value
    _field_error(client.post("/predict", json={"shipments": rows}), field)


def test_as_of_before_creation_is_rejected(server, body):
    client, _ = server
    rows = body(1)
    rows[0]["as_of"] = "2000-01-01T00:00:00Z"
    answer = _one_shape(client.post("/predict", json={"shipments": rows}), 400)
    assert "as_of is before created_at" in answer["error"]


@pytest.mark.parametrize("number", [b"Infinity", b"-Infinity", b"NaN", b"1e400"])
def test_non_finite_numbers_are_refused(server, body, number):
    client, _ = server
    rows = body(1)
    rows[0]["declared_value"] = 12345
    raw = json.dumps({"shipments": rows}).encode().replace(b"12345", number, 1)
    answer = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    _field_error(answer, "declared_value")


def test_unknown_top_level_fields_are_refused(server, body):
    client, _ = server
    answer = client.post("/predict", json={"shipments": body(1), "language": "ko"})
    _field_error(answer, "language")


def test_only_json_bodies_are_parsed(server, body):
    client, _ = server
    for content_type in ("multipart/form-data", "text/plain", "application/x-www-form-urlencoded"):
        answer = client.post("/predict", content=b"--x\r\n", headers={"content-type": content_type})
        _one_shape(answer, 415)


def test_bodies_over_the_limit_are_refused_before_parsing(server, body):
    client, _ = server
    big = json.dumps({"shipments": body(1), "pad": "x" * MAX_BODY}).encode()
    declared = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert "STALLGUARD_MAX_BODY_BYTES" in _one_shape(declared, 413)["error"]

    def chunks():  # no content-length: the limit counts the bytes as they arrive
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]

    streamed = client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    _one_shape(streamed, 413)
    assert client.post("/predict", json={"shipments": body(2)}).status_code == 200


def test_the_bearer_scheme_is_case_insensitive(server):
    client, _ = server
    for scheme in ("bearer", "BEARER", "Bearer"):
        answer = httpx.get(
            f"{client.base_url}/model", headers={"Authorization": f"{scheme} {TOKEN}"}
        )
        assert answer.status_code == 200, scheme


def test_unknown_paths_are_404s_that_do_not_grow_the_metrics(server):
    client, _ = server
    _one_shape(httpx.get(f"{client.base_url}/no-such-route"), 404)
    before = httpx.get(f"{client.base_url}/metrics").text
    for i in range(300):
        httpx.get(f"{client.base_url}/random/{i}/path?q={i}")
    after = httpx.get(f"{client.base_url}/metrics").text
    series = [line for line in after.splitlines() if line and not line.startswith("#")]
    assert not [line for line in series if "/random/" in line]
    assert len(after) < len(before) + 2_000  # counts change; no new series per path
    assert 'stallguard_requests_total{route="other",status="404"}' in after


def _marked(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["dest_address"], row["recipient_phone"] = ADDRESS, PHONE
    return rows


def test_no_request_value_reaches_the_log_in_any_malformed_shape(server, body):
    client, log = server
    shapes = []
    rows = _marked(body(2))
    rows[0]["dest_adress"] = ADDRESS  # misspelt field
    shapes.append({"shipments": rows})
    rows = _marked(body(1))
    rows[0]["recipient_phone"] = 1234  # wrong type next to... itself
    rows[0]["dest_address"] = ["not", "text", ADDRESS]
    shapes.append({"shipments": rows})
    rows = _marked(body(1))
    del rows[0]["created_at"]  # a missing field next to the phone
    shapes.append({"shipments": rows})
    rows = _marked(body(1))
    rows[0]["dest_address"] = ADDRESS + "x" * 400  # too long
    shapes.append({"shipments": rows})
    rows = _marked(body(1))
    rows[0]["recipient_phone"] = PHONE + "\n" + ADDRESS  # control characters
    shapes.append({"shipments": rows})
    for shape in shapes:
        answer = client.post("/predict", json=shape)
        assert 400 <= answer.status_code < 500, answer.text
        assert ADDRESS not in answer.text and PHONE not in answer.text
    truncated = json.dumps({"shipments": _marked(body(1))}).encode()[:-40]
    answer = client.post("/alerts", content=truncated, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    time.sleep(0.5)  # let the worker flush its log
    text = log.read_text(errors="replace")
    assert "/predict" in text  # the log is the service's
    for mark in (ADDRESS, "PII-ADDRESS-MARK", PHONE, "9876-5432"):
        assert mark not in text, f"{mark!r} reached the service log"


@pytest.mark.slow
def test_fuzzing_the_documented_api_finds_no_server_error(server, tmp_path):
    client, _ = server
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{client.base_url}/docs.json",
            "--url",
            str(client.base_url),
            "--checks",
            "not_a_server_error,status_code_conformance",
            "--max-examples",
            "20",
            "--max-time",
            "120",
            "--seed",
            "7",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--request-timeout",
            "30",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
