"""The ops and parcel pages in a real Chromium, against a real service fed by a short replay.

Chromium is Debian's (`.ci/run` installs the `chromium` package); Playwright drives it through
its executable path, with the flags a closed network needs. Screenshots go to
STALLGUARD_SCREENSHOTS (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pandas as pd
import pytest

from cli.demo.processes import running_service
from serving.watch.replay import Replay, run_replay
from serving.watch.targets import HttpTarget

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "pages-token"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def service(serving_env, small_data, tmp_path_factory):
    """A service on the small world's champion, fed three days of replay."""
    root = tmp_path_factory.mktemp("pages")
    env = {
        **serving_env,
        "STALLGUARD_STATE_URL": f"sqlite:///{root / 'state.db'}",
        "STALLGUARD_OUTBOX_URL": f"sqlite:///{root / 'outbox.db'}",
        "STALLGUARD_API_TOKEN": TOKEN,
        "STALLGUARD_WATCH_EVERY": "0",
        "STALLGUARD_PII_KEY": "pages-key",
    }
    start = small_data.now - pd.Timedelta(days=5)
    replay = Replay(small_data.tables, start, 3, pd.Timedelta(hours=4), history_days=21)
    with running_service(env, log_file=root / "service.log") as url:
        target = HttpTarget(url, TOKEN)
        run_replay(replay, target)
        target.close()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
            yield url, api


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: .ci/run installs Debian's chromium package")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, service):
    url, _ = service
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
    page = context.new_page()
    page.goto("/ops")
    page.fill("#token", TOKEN)  # sent to the sign-in page first
    page.click("form[action='/login'] button")
    page.wait_for_url("**/ops*")
    yield page
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("STALLGUARD_SCREENSHOTS")
    out = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def listed(page) -> list[str]:
    return page.eval_on_selector_all(
        "#at-risk tbody tr[data-shipment]", "rows => rows.map(r => r.dataset.shipment)"
    )


def api_ids(api, **params) -> list[str]:
    answer = api.get("/at-risk", params={"limit": 25, **params})
    answer.raise_for_status()
    return [item["shipment_id"] for item in answer.json()["items"]]


def test_the_ops_list_is_the_api_list_in_order(page, service, shots):
    _, api = service
    assert page.get_attribute("html", "lang") == "ko"
    ids = listed(page)
    assert ids and ids == api_ids(api)
    assert page.locator("#network-chart svg rect.bar-risk").count() > 0
    assert page.locator("#last-pass").inner_text().startswith("마지막 점검")
    page.screenshot(path=str(shots / "ops.png"), full_page=True)


@pytest.mark.parametrize("field", ["region", "location", "reason", "overdue"])
def test_each_filter_narrows_the_list_as_the_api_does(page, service, field):
    _, api = service
    options = page.eval_on_selector_all(
        f"#f-{field} option", "opts => opts.map(o => o.value).filter(v => v)"
    )
    everyone = api_ids(api, limit=500)
    tried = 0
    for value in options:
        expected = api_ids(api, **{field: value})
        if not expected:
            continue
        page.select_option(f"#f-{field}", value)
        page.click("#filters button[type=submit]")
        page.wait_for_load_state()
        assert listed(page) == expected
        assert set(expected) <= set(everyone)
        tried += 1
        if tried == 2:
            break
    assert tried, f"no {field} value had parcels at risk"


def test_pages_of_the_list_follow_the_api_cursor(page, service):
    _, api = service
    first = api.get("/at-risk", params={"limit": 25}).json()
    if first["next_cursor"] is None:
        pytest.skip("fewer than one page of parcels in flight")
    page.click("#next-page")
    page.wait_for_load_state()
    second = api.get("/at-risk", params={"limit": 25, "cursor": first["next_cursor"]}).json()
    assert listed(page) == [i["shipment_id"] for i in second["items"]]
    assert page.locator("#at-risk tbody tr td").first.inner_text() == "26"


def test_a_row_opens_its_parcel_page(page, service, shots):
    _, api = service
    first = listed(page)[0]
    page.click(f"#at-risk tr[data-shipment='{first}'] a.parcel")
    page.wait_for_url(f"**/track/{first}*")
    view = api.get(f"/shipments/{first}", params={"lang": "ko"}).json()
    assert page.locator("#window-chart svg rect[data-role=window]").count() == 1
    assert page.locator("#window-chart svg line[data-role=p50]").count() == 1
    assert page.locator("#reasons li").count() == len(view["reasons"]) > 0
    assert page.locator("#reasons li").first.inner_text().startswith(view["reasons"][0]["text"])
    assert page.locator("#timeline li").count() == len(view["timeline"])
    assert page.locator("#message").count() == 1
    page.screenshot(path=str(shots / "track.png"), full_page=True)


def test_the_monitoring_tab_shows_what_get_monitoring_says(page, service, shots):
    _, api = service
    m = api.get("/monitoring").json()
    page.click("nav a[href^='/ops/monitoring']")
    page.wait_for_url("**/ops/monitoring*")
    assert page.locator("#live tbody tr[data-day]").count() == len(m["daily"])
    days = page.locator("#live tbody tr[data-day]").evaluate_all(
        "rows => rows.map(r => r.dataset.day)"
    )
    assert days == [d["day"] for d in m["daily"]]
    assert page.locator("#in-flight dd").first.inner_text() == str(m["in_flight"]["parcels"])
    shown = page.locator("#findings li.finding").all_inner_texts()
    assert shown == [f["message"] for f in m["findings"]]
    families = page.locator("#drift tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.family)"
    )
    assert sorted(families) == sorted(d["family"] for d in m["drift_latest"])
    assert page.locator("html").get_attribute("lang") == "ko"
    page.screenshot(path=str(shots / "monitoring.png"), full_page=True)


def test_the_language_toggle_switches_the_text(page):
    assert page.locator("h1#at-risk-title").inner_text() == "지연 위험 소포"
    page.click("#lang-toggle")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator("h1#at-risk-title").inner_text() == "Parcels at risk"
    page.click("#lang-toggle")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "ko"


def test_an_unknown_number_is_not_found(page):
    page.fill("#lookup-id", "NO-SUCH-PARCEL-1")
    with page.expect_response(lambda r: "/track/" in r.url) as answer:
        page.click("form.lookup button")
    assert answer.value.status == 404
    assert page.locator("#not-found h1").inner_text() == "찾을 수 없는 운송장입니다"


def test_pages_fit_a_phone_width(browser, service, shots):
    url, api = service
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=url)
    page = context.new_page()
    page.goto("/login")
    page.fill("#token", TOKEN)
    page.click("form[action='/login'] button")
    page.wait_for_url("**/ops*")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0  # the tables scroll inside their box; the page does not
    page.screenshot(path=str(shots / "ops-phone.png"), full_page=False)
    first = api_ids(api)[0]
    page.goto(f"/track/{first}")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    context.close()


def test_pages_need_the_token(service):
    url, _ = service
    with httpx.Client(base_url=url, follow_redirects=False) as anonymous:
        answer = anonymous.get("/ops")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        refused = anonymous.post("/login", data={"token": "wrong", "next": "/ops"})
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        signed = anonymous.post("/login", data={"token": TOKEN, "next": "/ops"})
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert TOKEN not in cookie
        assert anonymous.get("/ops").status_code == 200
        assert anonymous.get("/static/stallguard.css").status_code == 200
