"""Load on the real service, and delivery throughput of the outbox.

Run after `make demo` (it needs the champion in ./mlflow.db and data/simulated):
`.venv/bin/python -m bench.bench_load`. Prints Markdown tables for docs/benchmarks.md.

1. Service under mixed load (loopback, one worker): 20 concurrent clients each posting one
   parcel to /predict, and 4 concurrent clients posting 200-parcel batches, for a fixed time.
   Per kind: requests, p50/p99 ms, errors; the worker's RSS before and after.
2. Delivery: 2,000 queued alerts to an instant local webhook, by 1 sender and by 2 senders
   sharing the outbox (each: batch 50, 8 in flight): alerts/s and duplicates received.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil

from bench.bench_serving import batch_bodies, parcels_with_ten_scans
from cli.demo.processes import running_service
from cli.demo.receiver import WebhookReceiver
from contract.tables import Tables
from serving.alerts import AlertPolicy, AlertStore, Scored, Sender
from serving.messages import MessageBook


def worker_rss_mb() -> float:
    """Resident memory of the BentoML service worker (the process that holds the model), MB."""
    for proc in psutil.process_iter(["cmdline"]):
        if any("_bentoml_impl.worker.service" in part for part in proc.info["cmdline"] or ()):
            return proc.memory_info().rss / 1e6
    return float("nan")


async def client(
    http: httpx.AsyncClient, bodies: list[dict], until: float, out: list[tuple[float, int]]
) -> None:
    """Post `bodies` in turn until `until`; record (ms, status) of each."""
    i = 0
    while time.perf_counter() < until:
        start = time.perf_counter()
        try:
            status = (await http.post("/predict", json=bodies[i % len(bodies)])).status_code
        except httpx.HTTPError:
            status = 0
        out.append(((time.perf_counter() - start) * 1000, status))
        i += 1


async def mixed_load(url: str, singles: list[dict], batches: list[dict], seconds: float):
    """Run 20 single-parcel and 4 batch clients at once; latencies per kind."""
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        until = time.perf_counter() + seconds
        one: list[tuple[float, int]] = []
        many: list[tuple[float, int]] = []
        await asyncio.gather(
            *(client(http, [{"shipments": [b]} for b in singles], until, one) for _ in range(20)),
            *(client(http, batches, until, many) for _ in range(4)),
        )
    return one, many


def load_table(url: str, tables: Tables, seconds: float) -> list[str]:
    singles = parcels_with_ten_scans(tables, 200)
    batch = batch_bodies(tables, 800)
    batches = [{"shipments": batch[i : i + 200]} for i in range(0, 800, 200)]
    httpx.post(f"{url}/predict", json={"shipments": singles[:5]}, timeout=120)  # warm up
    before = worker_rss_mb()
    one, many = asyncio.run(mixed_load(url, singles, batches, seconds))
    after = worker_rss_mb()
    rows = [
        f"| load for {seconds:.0f} s | requests | p50 ms | p99 ms | errors | req/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, got in (("1 parcel x 20 clients", one), ("200 parcels x 4 clients", many)):
        ms = np.array([m for m, _ in got])
        errors = sum(status != 200 for _, status in got)
        rows.append(
            f"| {name} | {len(got):,} | {np.percentile(ms, 50):.0f} | "
            f"{np.percentile(ms, 99):.0f} | {errors} | {len(got) / seconds:.1f} |"
        )
    rows.append(f"\nworker RSS: {before:,.0f} MB before, {after:,.0f} MB after")
    return rows


def queued(store: AlertStore, n: int) -> None:
    now = pd.Timestamp.now(tz="UTC")
    promised = now + pd.Timedelta(days=1)
    batch = [
        Scored(
            shipment_id=f"BENCH-{i:06d}",
            promised_at=promised,
            as_of=now,
            risk=0.9,
            eta_p10=promised,
            eta_p50=promised + pd.Timedelta(hours=6),
            eta_p90=promised + pd.Timedelta(hours=20),
            reasons=(("HUB_BACKLOG", 1.0),),
            model_version="bench",
        )
        for i in range(n)
    ]
    store.decide(batch, AlertPolicy(), now, MessageBook())


def delivery_table(n: int) -> list[str]:
    rows = [
        f"| delivery of {n:,} alerts | seconds | alerts/s | received | duplicates |",
        "|---|---:|---:|---:|---:|",
    ]
    for senders in (1, 2):
        with tempfile.TemporaryDirectory() as tmp, WebhookReceiver() as rx:
            url = f"sqlite:///{Path(tmp) / 'outbox.db'}"
            with AlertStore(url) as store:
                queued(store, n)
            stores = [AlertStore(url) for _ in range(senders)]
            workers = [Sender.for_url(s, rx.url) for s in stores]
            start = time.perf_counter()
            threads = [threading.Thread(target=w.run_once) for w in workers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.perf_counter() - start
            keys = rx.idempotency_keys()
            for w, s in zip(workers, stores, strict=True):
                w.close()
                s.close()
        rows.append(
            f"| {senders} sender{'s' if senders > 1 else ''} (batch 50, 8 in flight) | "
            f"{took:.1f} | {n / took:,.0f} | {len(set(keys)):,} | {len(keys) - len(set(keys))} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/simulated"))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--alerts", type=int, default=2000)
    args = parser.parse_args()
    print("\n".join(delivery_table(args.alerts)))
    print()
    tables = Tables.read(args.data)
    with running_service({"STALLGUARD_OUTBOX_URL": "sqlite://"}) as url:
        print("\n".join(load_table(url, tables, args.seconds)))


if __name__ == "__main__":
    main()
