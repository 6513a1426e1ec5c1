"""`stallguard serve-demo`: start the real service, ask it about parcels, show the alerts sent."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from rich.console import Console
from rich.table import Table

from cli.demo.payloads import shipment_payloads
from cli.demo.processes import running_service
from cli.demo.receiver import WebhookReceiver
from contract.tables import Tables

CANDIDATES = 300  # parcels sent in one /predict batch; the most at risk are shown
SEOUL = "Asia/Seoul"


def run_demo(data: Path, parcels: int, port: int, console: Console) -> None:
    """Serve the champion, send parcels in flight from `data`, print answers and alerts.

    Raises:
        FileNotFoundError: `data` is not a Tables directory.
        RuntimeError: The service did not start (no champion, port taken), with its log.
    """
    tables = Tables.read(data)
    now = tables.scan_events["event_time"].max()
    ids = _in_flight(tables, now, CANDIDATES)
    body = shipment_payloads(tables, ids, now)
    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver() as webhook:
        env = {
            "STALLGUARD_OUTBOX_URL": f"sqlite:///{tmp}/outbox.db",
            "STALLGUARD_WEBHOOK_URL": webhook.url,
        }
        started = time.monotonic()
        with console.status("starting bentoml serve serving.service:Stallguard"):
            service = running_service(env, port, Path(tmp) / "service.log")
            url = service.__enter__()
        try:
            console.print(f"service ready at {url} in {time.monotonic() - started:.1f} s")
            with httpx.Client(base_url=url, timeout=60) as client:
                _show(client, body, parcels, now, console)
                _alerts(client, body, webhook, console)
        finally:
            service.__exit__(None, None, None)
        console.print("service stopped")


def _in_flight(tables: Tables, now: pd.Timestamp, limit: int) -> list[str]:
    ships = tables.shipments
    flying = ships[
        (ships["created_at"] <= now)
        & ~(ships["delivered_at"] <= now).fillna(False)
        # promised at least 12 h ahead: the ones ops can still save (the early-warning horizon)
        & (ships["promised_at"] > now + pd.Timedelta(hours=12))
    ]
    return flying["shipment_id"].head(limit).tolist()


def _show(
    client: httpx.Client,
    body: list[dict[str, object]],
    parcels: int,
    now: pd.Timestamp,
    console: Console,
) -> None:
    model = client.get("/model").json()
    console.print(
        f"model {model['name']} v{model['version']} (run {model['run_id']}), "
        f"AUC {model['metrics'].get('risk_roc_auc', float('nan')):.3f}"
    )
    started = time.perf_counter()
    answer = client.post("/predict", json={"shipments": body, "lang": "en"})
    answer.raise_for_status()
    elapsed = (time.perf_counter() - started) * 1000
    predictions = answer.json()["predictions"]
    console.print(
        f"/predict: {len(body)} parcels in flight at {now:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} ms"
    )
    top = sorted(predictions, key=lambda p: -p["risk"])[:parcels]
    chosen = [b for b in body if b["shipment_id"] in {p["shipment_id"] for p in top}]
    korean = client.post("/predict", json={"shipments": chosen, "lang": "ko"}).json()
    ko = {p["shipment_id"]: p for p in korean["predictions"]}
    table = Table(title="Most at risk (answers of POST /predict)", title_justify="left")
    for column in ("shipment", "risk", "ETA P10-P90 (KST)", "reasons (en)", "이유 (ko)"):
        table.add_column(column)
    for p in top:
        window = f"{_kst(p['eta_p10'])} .. {_kst(p['eta_p90'])}"
        en = "; ".join(r["text"] for r in p["reasons"][:2])
        kr = "; ".join(r["text"] for r in ko[p["shipment_id"]]["reasons"][:2])
        table.add_row(p["shipment_id"], f"{p['risk']:.0%}", window, en, kr)
    console.print(table)


def _alerts(
    client: httpx.Client, body: list[dict[str, object]], webhook: WebhookReceiver, console: Console
) -> None:
    answer = client.post("/alerts", json={"shipments": body, "lang": "ko"})
    answer.raise_for_status()
    alerts = answer.json()["alerts"]
    console.print(f"/alerts: {len(alerts)} alert(s) for {len(body)} parcels")
    again = client.post("/alerts", json={"shipments": body, "lang": "ko"}).json()["alerts"]
    console.print(f"/alerts again with the same parcels: {len(again)} new (idempotent)")
    arrived = webhook.wait_for(len(alerts), timeout=30)
    table = Table(title="Received by the webhook", title_justify="left")
    for column in ("kind", "shipment", "message (ko)"):
        table.add_column(column)
    for record in webhook.received[:8]:
        table.add_row(record["kind"], record["shipment_id"], record["message"]["ko"])
    console.print(table)
    keys = {r["_key"] for r in webhook.received}
    status = "all delivered" if arrived else "[red]some still pending[/]"
    console.print(f"webhook received {len(keys)} of {len(alerts)} alert(s): {status}")


def _kst(iso: str) -> str:
    return pd.Timestamp(iso).tz_convert(SEOUL).strftime("%m-%d %H:%M")
