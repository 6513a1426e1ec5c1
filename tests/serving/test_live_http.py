"""The live watch over HTTP: a real `bentoml serve` with a SQLite state store."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from cli.demo.payloads import table_rows

pytestmark = [pytest.mark.serving, pytest.mark.slow]

TOKEN = "live-token"


@pytest.fixture(scope="module")
def live(serving_env, small_data, tmp_path_factory):
    from cli.demo.processes import running_service

    root = tmp_path_factory.mktemp("live_service")
    env = {
        **serving_env,
        "STALLGUARD_OUTBOX_URL": f"sqlite:///{root / 'outbox.db'}",
        "STALLGUARD_STATE_URL": f"sqlite:///{root / 'state.db'}",
        "STALLGUARD_API_TOKEN": TOKEN,
        "STALLGUARD_WATCH_EVERY": "0",  # passes only on demand: the test drives the clock
        "STALLGUARD_PII_KEY": "live-test-key",
    }
    with (
        running_service(env, log_file=root / "service.log") as url,
        httpx.Client(
            base_url=url, timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as client,
    ):
        yield client, root


def _post_all(client, route: str, field: str, rows: list[dict], size: int = 5000) -> list[dict]:
    results = []
    for start in range(0, len(rows), size):
        answer = client.post(route, json={field: rows[start : start + size]})
        assert answer.status_code == 200, answer.text
        results.extend(answer.json()["results"])
    return results


@pytest.fixture(scope="module")
def ingested(live, small_data):
    """The world up to three days before its end, ingested and watched once."""
    client, _ = live
    tables = small_data.tables
    as_of = small_data.now - pd.Timedelta(days=3)
    ships = tables.shipments[tables.shipments["created_at"] <= as_of]
    ships = ships.assign(
        delivered_at=ships["delivered_at"].where(ships["delivered_at"] <= as_of),
        final_status=ships["final_status"].where(ships["delivered_at"] <= as_of),
    )
    events = tables.scan_events[tables.scan_events["event_time"] <= as_of]
    network = _post_all(client, "/network", "locations", table_rows(tables.network))
    shipments = _post_all(client, "/shipments", "shipments", table_rows(ships))
    scans = _post_all(client, "/events", "events", table_rows(events))
    weather = client.post(
        "/weather",
        json={
            "observations": table_rows(tables.weather_daily),
            "forecasts": table_rows(tables.weather_forecast.head(3000)),
        },
    )
    assert weather.status_code == 200, weather.text
    watched = client.post("/watch", json={"as_of": as_of.isoformat()})
    assert watched.status_code == 200, watched.text
    return {
        "as_of": as_of,
        "network": network,
        "shipments": shipments,
        "scans": scans,
        "weather": weather.json()["results"],
        "watch": watched.json(),
        "ids": ships["shipment_id"].tolist(),
    }


def test_ingestion_answers_every_row(ingested):
    for kind in ("network", "shipments", "scans", "weather"):
        statuses = {r["status"] for r in ingested[kind]}
        assert statuses == {"accepted"}, (kind, statuses)


def test_repeats_duplicates_and_bad_rows_are_answered_by_row(live, ingested, small_data):
    client, _ = live
    events = small_data.tables.scan_events
    known = events[events["event_time"] <= ingested["as_of"]].head(3)
    rows = table_rows(known)
    rows.insert(1, {**rows[0], "shipment_id": "NOBODY-9"})
    rows.insert(2, {**rows[0], "event_type": "TELEPORTED"})
    results = client.post("/events", json={"events": rows}).json()["results"]
    assert [r["status"] for r in results] == [
        "duplicate",
        "rejected",
        "rejected",
        "duplicate",
        "duplicate",
    ]
    assert results[1]["error"] == "unknown shipment_id"
    assert "event_type" in results[2]["error"]
    ship = table_rows(small_data.tables.shipments.head(1))[0]
    again = client.post("/shipments", json={"shipments": [ship, {**ship, "weight_kg": -3}]})
    statuses = [r["status"] for r in again.json()["results"]]
    assert statuses[1] == "rejected" and "weight_kg" in again.json()["results"][1]["error"]


def test_a_pass_scores_every_parcel_in_flight(ingested):
    watched = ingested["watch"]
    assert watched["scored"] > 100 and 0 < watched["at_risk"] < watched["scored"]
    assert watched["alerts"] > 0


def test_the_at_risk_list_pages_and_filters(live, ingested):
    client, _ = live
    first = client.get("/at-risk", params={"limit": 20}).json()
    items = first["items"]
    assert len(items) == 20 and first["next_cursor"]
    risks = [i["risk"] for i in items]
    assert risks == sorted(risks, reverse=True)
    assert {"shipment_id", "hours_left", "top_reason", "last_scan", "eta_p50"} <= set(items[0])
    second = client.get("/at-risk", params={"limit": 20, "cursor": first["next_cursor"]}).json()
    assert not {i["shipment_id"] for i in items} & {i["shipment_id"] for i in second["items"]}
    assert second["items"][0]["risk"] <= risks[-1]
    region = items[0]["dest_region"]
    regional = client.get("/at-risk", params={"region": region, "limit": 500}).json()["items"]
    assert regional and {i["dest_region"] for i in regional} == {region}
    late = client.get("/at-risk", params={"overdue": "true", "limit": 500}).json()["items"]
    assert all(i["hours_left"] < 0 for i in late)
    assert client.get("/at-risk", params={"cursor": "nonsense"}).status_code == 400


def test_a_parcel_lookup_has_its_window_reasons_and_timeline(live, ingested):
    client, _ = live
    top = client.get("/at-risk", params={"limit": 1, "lang": "ko"}).json()["items"][0]
    view = client.get(f"/shipments/{top['shipment_id']}", params={"lang": "ko"}).json()
    assert view["risk"] == pytest.approx(top["risk"])
    assert view["eta_p10"] <= view["eta_p50"] <= view["eta_p90"]
    assert view["timeline"] and view["last_scan"] == view["timeline"][-1]
    assert view["history"][-1]["risk"] == pytest.approx(view["risk"])
    assert view["reasons"] and any("가" <= ch <= "힣" for ch in view["reasons"][0]["text"])
    assert "dest_address" not in view and "recipient_phone" not in view
    missing = client.get("/shipments/NOBODY-1")
    assert missing.status_code == 404 and missing.json()["status"] == 404


def test_the_network_view_counts_parcels_per_location(live, ingested):
    client, _ = live
    view = client.get("/network").json()
    assert view["context_as_of"] and view["watched_at"]
    counted = sum(loc["in_flight"] for loc in view["locations"])
    assert 0 < counted <= ingested["watch"]["scored"]
    assert all(loc["at_risk"] <= loc["in_flight"] for loc in view["locations"])


def test_reads_and_ingestion_need_the_token(live, ingested):
    client, _ = live
    for method, route in (("GET", "/at-risk"), ("GET", "/network"), ("POST", "/watch")):
        answer = httpx.request(method, f"{client.base_url}{route}", json={})
        assert answer.status_code == 401, route


def test_no_address_or_phone_reaches_the_state_database(live, ingested, small_data):
    _, root = live
    ships = small_data.tables.shipments
    ids = set(ingested["ids"])
    sample = ships[ships["shipment_id"].isin(ids)].head(200)
    marks = [*sample["dest_address"].dropna(), *sample["recipient_phone"].dropna()]
    blob = b"".join(f.read_bytes() for f in root.glob("state.db*"))
    assert blob and not [m for m in marks if m.encode() in blob]
