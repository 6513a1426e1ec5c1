"""One process against a Dask cluster on this machine: context, features and scoring.

Run after `make demo` (the champion in ./mlflow.db, the default world in data/simulated):
`.venv/bin/python -m bench.bench_dask [--rows 1000000] [--workers 2]`. On the same snapshots,
in one run: `build_context` over the whole history, `build_features` and `Predictor.predict`
(compiled trees, what-if reasons) in this process, then the same three on a LocalCluster of
`--workers` processes (scale/engine.py), with the equality of the results checked and each
process's peak memory. Prints Markdown tables for docs/benchmarks.md and docs/scale.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import get_task_stream

from contract.tables import Tables
from features.build import build_features
from features.context import build_context
from scale.cluster import dask_client
from scale.engine import DaskEngine
from training.compiled import DEFAULT_CACHE, limit_threads
from training.config import CHAMPION, REGISTERED_MODEL, TrackingConfig
from training.dataset import sample_snapshots
from training.tracking import connect, load_predictor

DATA = Path("data/simulated")


def peak_mb() -> float:
    """This process's peak resident memory since it started (VmHWM, Linux).

    Not getrusage's ru_maxrss: Linux keeps that across fork and exec, so a worker process
    would report the peak of the process that started it.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    tables = Tables.read(DATA)
    connect(TrackingConfig())
    predictor = load_predictor(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    if not predictor.compile_trees(DEFAULT_CACHE):
        raise SystemExit("the trees did not compile (see the log)")
    now = tables.scan_events["event_time"].max()
    snaps = sample_snapshots(tables, now)
    snaps = snaps.sample(min(args.rows, len(snaps)), random_state=0)
    snaps = snaps[["shipment_id", "as_of"]].reset_index(drop=True)
    rows = len(snaps)
    loaded_mb = peak_mb()

    local: dict[str, float] = {}
    local["context"], context = timed(lambda: build_context(tables))
    local["features"], x = timed(lambda: build_features(tables, snaps, context))
    local["scoring"], scored = timed(lambda: predictor.predict(tables, snaps, context))
    local_mb = peak_mb()
    limit_threads(1)  # the same process with the trees on one thread, as each worker runs them
    one_thread, _ = timed(lambda: predictor.predict(tables, snaps, context))
    limit_threads(None)

    on_dask: dict[str, float] = {}
    with dask_client(workers=args.workers) as client:
        engine = DaskEngine(client, tree_cache=DEFAULT_CACHE)
        on_dask["load (split, send)"], _ = timed(lambda: engine.load(tables))
        on_dask["context"], d_context = timed(lambda: engine.context(tables))
        on_dask["features"], d_x = timed(lambda: engine.features(tables, snaps, d_context))
        engine.predict(predictor, tables, snaps.head(20_000), d_context)  # trees load on workers
        with get_task_stream(client) as stream:
            on_dask["scoring"], d_scored = timed(
                lambda: engine.predict(predictor, tables, snaps, d_context)
            )
        worker_mb = client.run(peak_mb)
    busy = _busy_seconds(stream.data, "_predict_part")

    pd.testing.assert_frame_equal(d_x, x, check_exact=False, rtol=1e-6)
    risk_gap = float(np.abs(d_scored["risk"].to_numpy() - scored["risk"].to_numpy()).max())
    same_reason = float((d_scored["reason_1"].fillna("") == scored["reason_1"].fillna("")).mean())

    print(f"\n{rows:,} snapshots of the default world ({len(tables.shipments):,} shipments, "
          f"{len(tables.scan_events):,} scans); 1 process vs {args.workers} Dask workers, "
          "2 cores\n")  # fmt: skip
    print(f"| Stage | 1 process (s) | {args.workers} workers (s) | speed-up | rows/s on Dask |")
    print("|---|---:|---:|---:|---:|")
    for stage in ("context", "features", "scoring"):
        a, b = local[stage], on_dask[stage]
        per_s = "" if stage == "context" else f"{rows / b:,.0f}"
        print(f"| {stage} | {a:.1f} | {b:.1f} | {a / b:.2f}x | {per_s} |")
    print(f"| load (split, send to workers) | - | {on_dask['load (split, send)']:.1f} | | |")
    print(f"\nSame results: features equal (rtol 1e-6); largest risk difference {risk_gap:.1e}, "
          f"same top reason {same_reason:.4f}\n")  # fmt: skip
    print(f"Scoring in one process with the trees on one thread: {one_thread:.1f} s "
          f"(2 workers: {one_thread / on_dask['scoring']:.2f}x that).")  # fmt: skip
    print(f"Scoring on Dask: the workers computed for {max(busy.values()):.1f} s (busiest) of "
          f"the {on_dask['scoring']:.1f} s; the rest is sending, gathering and re-ordering "
          "the results on the client, which shares the two cores.\n")  # fmt: skip
    print("| Process | Peak memory (MB) |")
    print("|---|---:|")
    print(f"| 1 process: data and model loaded | {loaded_mb:,.0f} |")
    print(f"| 1 process: after the three stages | {local_mb:,.0f} |")
    for k, (address, mb) in enumerate(sorted(worker_mb.items())):
        print(f"| Dask worker {k + 1} ({address}) | {mb:,.0f} |")


def _busy_seconds(tasks: list[dict], prefix: str) -> dict[str, float]:
    """Seconds each worker spent computing the tasks whose key starts with `prefix`."""
    busy: dict[str, float] = {}
    for task in tasks:
        if str(task["key"]).startswith(prefix):
            for part in task["startstops"]:
                if part["action"] == "compute":
                    busy[task["worker"]] = (
                        busy.get(task["worker"], 0.0) + part["stop"] - part["start"]
                    )
    return busy or {"none": float("nan")}


if __name__ == "__main__":
    main()
