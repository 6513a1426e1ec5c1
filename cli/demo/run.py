"""`stallguard serve-demo`: the live watch end to end on the real service.

Starts `bentoml serve` on the champion with a fresh state store and outbox (kept in
`data/demo/` afterwards, for `stallguard monitor` and `stallguard incident`), replays the last
days of a world into it through the ingestion API (history first, then scans and a watcher pass
every two simulated hours), and then asks it what ops, support and data scientists would: the
at-risk list, one parcel, the alerts a signed webhook received, and the monitoring summary.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from rich.console import Console
from rich.table import Table

from cli.demo.processes import running_service
from cli.demo.receiver import WebhookReceiver
from contract.tables import Tables
from serving.alerts.signing import new_secret
from serving.watch.replay import Replay
from serving.watch.targets import HttpTarget

SEOUL = "Asia/Seoul"
DAYS = 3.0  # simulated days streamed live; the history before them is loaded first
EVERY = pd.Timedelta(hours=2)  # a pass every two simulated hours: about a minute in all
STORES = Path("data/demo")  # the demo's state store and outbox, kept for the monitoring commands


def run_demo(data: Path, parcels: int, port: int, console: Console, days: float = DAYS) -> None:
    """Serve the champion, replay the last `days` of `data` into it, show what it knows.

    Raises:
        FileNotFoundError: `data` is not a Tables directory.
        RuntimeError: The service did not start (no champion, port taken), with its log.
    """
    from cli.replay import replay_live

    tables = Tables.read(data)
    start = tables.scan_events["event_time"].max() - pd.Timedelta(days=days)
    replay = Replay(tables, start, days, EVERY)
    token = secrets.token_urlsafe(16)
    secret = new_secret()
    STORES.mkdir(parents=True, exist_ok=True)
    for old in STORES.glob("*.db*"):  # a fresh watch each run
        old.unlink()
    stores = {
        "STALLGUARD_STATE_URL": f"sqlite:///{STORES / 'state.db'}",
        "STALLGUARD_OUTBOX_URL": f"sqlite:///{STORES / 'outbox.db'}",
    }
    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver() as webhook:
        env = {
            **stores,
            "STALLGUARD_WATCH_EVERY": "0",  # the replay drives the clock
            "STALLGUARD_API_TOKEN": token,
            "STALLGUARD_PII_KEY": secrets.token_urlsafe(16),
            "STALLGUARD_WEBHOOK_URL": webhook.url,
            "STALLGUARD_WEBHOOK_SECRET": secret,
        }
        started = time.monotonic()
        with console.status("starting bentoml serve serving.service:Stallguard"):
            service = running_service(env, port, Path(tmp) / "service.log")
            url = service.__enter__()
        try:
            console.print(f"service ready at {url} in {time.monotonic() - started:.1f} s")
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
                _model(client, console)
                target = HttpTarget(url, token)
                try:
                    summary = replay_live(
                        replay, target, 0.0, f"{url} (POST /shipments, /events, /weather, /watch)"
                    )
                finally:
                    target.close()
                top = _at_risk(client, parcels, console)
                _one_parcel(client, top, console)
                _alerts(webhook, summary.alerts, console)
                _monitoring(client, console)
                console.print(
                    f"pages while it runs: {url}/ops and {url}/track/{top or 'ID'} (sign in "
                    f"with this run's token {token}); `make serve` serves them on port 3000"
                )
        finally:
            service.__exit__(None, None, None)
        console.print("service stopped")
    settings = " ".join(f"{k}={v}" for k, v in stores.items())
    console.print(
        f"the watch's stores stay in {STORES}/: `{settings} stallguard monitor` writes the "
        f"monitoring report (and logs it to MLflow); `{settings} stallguard incident --from "
        f"{replay.start:%Y-%m-%dT%H:%MZ} --to {replay.end:%Y-%m-%dT%H:%MZ} --data {data}` "
        "writes the post-incident review"
    )


def _model(client: httpx.Client, console: Console) -> None:
    model = client.get("/model").json()
    console.print(
        f"model {model['name']} v{model['version']} (run {model['run_id']}), "
        f"AUC {model['metrics'].get('risk_roc_auc', float('nan')):.3f}"
    )


def _at_risk(client: httpx.Client, parcels: int, console: Console) -> str | None:
    """Print the top of the at-risk list; the id of the parcel most at risk, if any."""
    answer = client.get("/at-risk", params={"limit": parcels, "lang": "ko"})
    answer.raise_for_status()
    page = answer.json()
    table = Table(
        title=f"GET /at-risk?limit={parcels}&lang=ko (as of {_kst(page['as_of'])} KST)",
        title_justify="left",
    )
    for column in ("#", "shipment", "risk", "h left", "ETA P10..P90 KST", "last scan"):
        table.add_column(column, no_wrap=True)
    table.add_column("이유 (top reason)")
    for rank, item in enumerate(page["items"], 1):
        scan = item.get("last_scan") or {}
        reason = item.get("top_reason") or {}
        table.add_row(
            str(rank),
            item["shipment_id"],
            f"{item['risk']:.0%}",
            f"{item['hours_left']:.0f}",
            f"{_kst(item['eta_p10'])}..{_kst(item['eta_p90'], '%d %H:%M')}",
            f"{scan.get('event_type', '-')}",
            reason.get("text", "-"),
        )
    console.print(table)
    return page["items"][0]["shipment_id"] if page["items"] else None


def _one_parcel(client: httpx.Client, sid: str | None, console: Console) -> None:
    """Print one parcel (the one most at risk) as support sees it."""
    if sid is None:
        console.print("no parcel in flight at the end of the replay")
        return
    view = client.get(f"/shipments/{sid}", params={"lang": "en"}).json()
    console.print(f"[bold]GET /shipments/{sid}?lang=en[/]")
    console.print(
        f"  risk {view['risk']:.0%} ({'flagged' if view['at_risk'] else 'not flagged'}), "
        f"promised {_kst(view['promised_at'])} KST, "
        f"ETA {_kst(view['eta_p10'])} .. {_kst(view['eta_p90'])} (P50 {_kst(view['eta_p50'])})"
    )
    for reason in view["reasons"][:3]:
        console.print(f"  - {reason['text']} ({reason['share']:.0%})")
    scans = " > ".join(f"{s['event_type']} {_kst(s['event_time'])}" for s in view["timeline"][-4:])
    console.print(f"  last scans: {scans}")
    risks = " ".join(f"{h['risk']:.2f}" for h in view["history"][-8:])
    console.print(f"  risk over the last passes: {risks}")


def _alerts(webhook: WebhookReceiver, queued: int, console: Console) -> None:
    arrived = webhook.wait_for(queued, timeout=30)
    received = webhook.received
    kinds = pd.Series([r["type"] for r in received]).value_counts()
    table = Table(title="Received by the webhook (signed, Standard Webhooks)", title_justify="left")
    for column in ("type", "shipment", "message (ko)"):
        table.add_column(column)
    for record in _variety(received, 6):
        data = record["data"]
        table.add_row(record["type"], data["shipment_id"], _first_sentences(data["message"]["ko"]))
    console.print(table)
    by_type = ", ".join(f"{n} {t}" for t, n in kinds.items()) or "none"
    keys = {r["_key"] for r in received}
    status = "all delivered" if arrived else "[red]some still pending[/]"
    console.print(f"webhook received {len(keys)} of {queued} alert(s) ({by_type}): {status}")


def _monitoring(client: httpx.Client, console: Console) -> None:
    """Print what `GET /monitoring` says: live figures by day, the estimate, findings."""
    answer = client.get("/monitoring")
    answer.raise_for_status()
    m = answer.json()
    table = Table(title="GET /monitoring (outcomes joined point in time)", title_justify="left")
    for column in ("day", "predictions", "settled", "late real / est.", "AUC", "ECE", "P10-P90"):
        table.add_column(column, justify="right")
    for d in m["daily"]:
        table.add_row(
            d["day"],
            f"{d['predictions']:.0f}",
            _pct(d["settled"]),
            f"{_pct(d['late_rate'])} / {_pct(d['estimated_late_rate'])}",
            _num(d["roc_auc"]),
            _num(d["ece"]),
            _pct(d["p10_p90_coverage"]),
        )
    console.print(table)
    flying = m["in_flight"]
    console.print(
        f"in flight: {flying['parcels']} parcels, expected late (label-free) "
        f"{_pct(flying['estimated_late_rate'])}; alerts: precision "
        f"{_pct(m['alerts_total'].get('precision'))}, recall 12 h ahead "
        f"{_pct(m['alerts_total'].get('recall_12h'))}"
    )
    for finding in m["findings"]:
        console.print(f"  finding: {finding['message']}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _variety(received: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Up to `n` records, every type represented first."""
    firsts = list({r["type"]: r for r in reversed(received)}.values())
    rest = [r for r in received if r not in firsts]
    return (firsts + rest)[:n]


def _first_sentences(text: str, n: int = 2) -> str:
    """The start of a message: enough to tell one kind from another in a table."""
    parts = text.split(". ")
    return ". ".join(parts[:n]) + ("." if len(parts) > n else "")


def _kst(iso: str, fmt: str = "%m-%d %H:%M") -> str:
    return pd.Timestamp(iso).tz_convert(SEOUL).strftime(fmt)
