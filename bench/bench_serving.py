"""Serving speed: the in-process predictor, the BentoML service and `mlflow models serve`.

Run after `make demo` (it needs the champion in ./mlflow.db and data/simulated):
`.venv/bin/python -m bench.bench_serving`. All three serve the same registered model
(`models:/stallguard@champion`) on the same parcels:
- single shipment with 10 scan events, one request at a time at a steady rate: p50/p99 ms;
- 1,000-row batches: rows per second;
- in process, the same single requests back to back, and a fixed pure-Python loop timed back
  to back and at the request rate: what idle gaps cost on this machine, model or not;
- the BentoML service's floor: the same single requests refused with 400 once parsed and
  validated, before any scoring.
Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from cli.demo.payloads import shipment_payloads
from cli.demo.processes import free_port, running_service
from contract.tables import Tables

MODEL_URI = "models:/stallguard@champion"


def parcels_with_ten_scans(tables: Tables, n: int) -> list[dict[str, Any]]:
    """Request bodies of `n` parcels, each as of its 10th scan, in the data's last 10 days.

    Recent, because a service answers about parcels in flight now, with a context that is
    current (the model's bundled context is as of the data's end).
    """
    events = tables.scan_events.sort_values(["shipment_id", "event_time"])
    tenth = events.groupby("shipment_id").nth(9)
    tenth = tenth[tenth["event_time"] >= events["event_time"].max() - pd.Timedelta(days=10)]
    tenth = tenth.sample(min(n, len(tenth)), random_state=0)
    bodies = []
    for sid, as_of in zip(tenth["shipment_id"], tenth["event_time"], strict=True):
        bodies.extend(shipment_payloads(tables, [sid], as_of))
    assert all(len(b["events"]) == 10 for b in bodies)
    return bodies


def batch_bodies(tables: Tables, rows: int) -> list[dict[str, Any]]:
    """`rows` parcels in flight at one time, as a client would send a batch."""
    now = tables.scan_events["event_time"].max() - pd.Timedelta(days=2)
    ships = tables.shipments
    flying = ships[(ships["created_at"] <= now) & ~(ships["delivered_at"] <= now).fillna(False)]
    return shipment_payloads(tables, flying["shipment_id"].head(rows).tolist(), now)


def steady(call: Callable[[dict[str, Any]], None], bodies: list[dict[str, Any]], rate: float):
    """Latencies (ms) of one call per body, started at a fixed rate (no overlap; inf: no gaps)."""
    for body in bodies[:10]:  # warm-up
        call(body)
    out = []
    gap = 1.0 / rate  # 0.0 for rate=inf
    for body in bodies:
        start = time.perf_counter()
        call(body)
        took = time.perf_counter() - start
        out.append(took * 1000)
        time.sleep(max(0.0, gap - took))
    return np.array(out)


def idle_penalty(rate: float, n: int = 100) -> tuple[float, float]:
    """Median ms of one fixed pure-Python loop: right after the same loop, and after an idle gap.

    What the machine does to any request, with no Stallguard code involved. On this VM the
    same loop has measured 4.2-7.0 ms from one minute to the next, and ~1.5x slower after the
    core idled 20 ms or more (cpuidle driver haltpoll). The two are interleaved so a slow
    minute weighs on both.
    """

    def work() -> float:
        start = time.perf_counter()
        total = 0
        for i in range(100_000):
            total += i * i
        return (time.perf_counter() - start) * 1000

    busy, after_gap = [], []
    for _ in range(n):
        work()
        busy.append(work())
        time.sleep(1.0 / rate)
        after_gap.append(work())
    return float(np.median(busy)), float(np.median(after_gap))


def throughput(call: Callable[[list[dict[str, Any]]], None], batch: list[dict[str, Any]], n: int):
    """Rows per second over `n` sequential batch calls (after one warm-up)."""
    call(batch)
    start = time.perf_counter()
    for _ in range(n):
        call(batch)
    return n * len(batch) / (time.perf_counter() - start)


def in_process(bodies, batch, rate, batches):
    from serving.inference import to_tables
    from serving.schemas import ShipmentIn
    from training.tracking import load_predictor

    predictor = load_predictor(MODEL_URI)
    predictor.compile_trees()  # as the service does (from the cache once compiled)
    gc.collect()  # as the service does after loading: keeps full collections out of the timing
    gc.freeze()

    def predict(rows: list[dict[str, Any]]) -> None:
        shipments = [ShipmentIn.model_validate(r) for r in rows]
        tables, snapshots = to_tables(shipments, pd.Timestamp.now(tz="UTC"))
        predictor.predict(tables, snapshots)

    single = steady(lambda b: predict([b]), bodies, rate)
    back_to_back = steady(lambda b: predict([b]), bodies, math.inf)
    return single, throughput(predict, batch, batches), back_to_back


def bentoml_service(bodies, batch, rate, batches, log: Path):
    with (
        running_service({"STALLGUARD_MAX_BATCH": str(len(batch))}, log_file=log) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):

        def post(rows: list[dict[str, Any]]) -> None:
            client.post("/predict", json={"shipments": rows}).raise_for_status()

        def rejected(body: dict[str, Any]) -> None:
            # The whole body parsed and checked field by field, then refused for its language:
            # what HTTP and BentoML cost a request before any scoring.
            answer = client.post("/predict", json={"shipments": [body], "lang": "xx"})
            if answer.status_code != 400:
                raise RuntimeError(f"expected 400 for lang 'xx', got {answer.status_code}")

        single = steady(lambda b: post([b]), bodies, rate)
        floor = steady(rejected, bodies, rate)
        return single, throughput(post, batch, batches), floor


def mlflow_serve(bodies, batch, rate, batches, log: Path):
    port = free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                *(str(mlflow_bin), "models", "serve", "-m", MODEL_URI, "--env-manager", "local"),
                *("--port", str(port), "--host", "127.0.0.1"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            # it execs `uvicorn` by name: the venv's bin must be on PATH
            env={**os.environ, "PATH": f"{mlflow_bin.parent}{os.pathsep}{os.environ['PATH']}"},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url + "/ping", process, log)
        with httpx.Client(base_url=url, timeout=120) as client:

            def post(rows: list[dict[str, Any]]) -> None:
                records = [{**r, "events": json.dumps(r["events"])} for r in rows]
                client.post("/invocations", json={"dataframe_records": records}).raise_for_status()

            return steady(lambda b: post([b]), bodies, rate), throughput(post, batch, batches)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            process.wait(timeout=30)


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow models serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("mlflow models serve was not ready in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/simulated"))
    parser.add_argument("--requests", type=int, default=300, help="single-shipment requests")
    parser.add_argument("--rate", type=float, default=20.0, help="single requests per second")
    parser.add_argument("--batches", type=int, default=10, help="1,000-row batches")
    parser.add_argument("--logs", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{Path.cwd() / 'mlflow.db'}")
    os.environ["BENTOML_DO_NOT_TRACK"] = "True"
    tables = Tables.read(args.data)
    # Few parcels reach a 10th scan in the last days: they are asked about in turn until the
    # run has `--requests` of them (a support agent asks about a parcel more than once too).
    parcels = parcels_with_ten_scans(tables, args.requests)
    bodies = list(itertools.islice(itertools.cycle(parcels), args.requests))
    batch = batch_bodies(tables, 1_000)
    runs = {
        "in-process predictor": lambda: in_process(bodies, batch, args.rate, args.batches),
        "BentoML service (`bentoml serve`)": lambda: bentoml_service(
            bodies, batch, args.rate, args.batches, args.logs / "bench_bentoml.log"
        ),
        "`mlflow models serve`": lambda: mlflow_serve(
            bodies, batch, args.rate, args.batches, args.logs / "bench_mlflow.log"
        ),
    }
    results = {}
    for name, run in runs.items():
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run()
    busy, idle = idle_penalty(args.rate)
    base = results["in-process predictor"][1]
    mlflow_rps = results["`mlflow models serve`"][1]
    print(
        f"\nSingle shipment with 10 scans: {len(bodies)} requests ({len(parcels)} parcels) at "
        f"{args.rate:g}/s, one at a time; batches: {args.batches} x 1,000 rows.\n"
    )
    print(
        "| path | single p50 ms | single p90 ms | single p99 ms | batch rows/s | "
        "vs in-process | vs mlflow serve |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (lat, rps, *_) in results.items():
        p50, p90, p99 = np.percentile(lat, [50, 90, 99])
        print(
            f"| {name} | {p50:.1f} | {p90:.1f} | {p99:.1f} | {rps:,.0f} | "
            f"{rps / base:.0%} | {rps / mlflow_rps:.2f}x |"
        )
    b50, b90, b99 = np.percentile(results["in-process predictor"][2], [50, 90, 99])
    print(
        f"\nIn-process, the same single requests back to back (no idle gap): p50 {b50:.1f} ms, "
        f"p90 {b90:.1f} ms, p99 {b99:.1f} ms.\nThe machine alone: a fixed pure-Python loop "
        f"takes {busy:.2f} ms right after itself and {idle:.2f} ms after a {1000 / args.rate:g} ms "
        f"idle gap ({idle / busy:.2f}x)."
    )
    f50, f90, f99 = np.percentile(results["BentoML service (`bentoml serve`)"][2], [50, 90, 99])
    print(
        f"The floor of the BentoML row: the same requests at the same rate, refused with 400 "
        f"after the body is parsed and validated (lang 'xx'): p50 {f50:.1f} ms, p90 {f90:.1f} "
        f"ms, p99 {f99:.1f} ms."
    )


if __name__ == "__main__":
    main()
