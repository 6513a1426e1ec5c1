"""build_features cost: 10k / 100k / 1M snapshots (batch) and one shipment (the serving path).

Run: `.venv/bin/python -m bench.bench_features` (simulates the default world first if
`data/simulated` is missing). Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from contract.tables import Tables
from features.build import build_features
from features.context import build_context

DATA = Path("data/simulated")


def _world() -> Tables:
    if not (DATA / "shipments.parquet").exists():
        from sources.synthetic import SimulationConfig, simulate

        simulate(SimulationConfig()).write(DATA)
    return Tables.read(DATA)


def _snapshots(tables: Tables, n: int, rng: np.random.Generator) -> pd.DataFrame:
    ships = tables.shipments.sample(n, replace=True, random_state=int(rng.integers(1 << 31)))
    hours = np.round(rng.uniform(0, 60, n) * 3.6e9).astype("int64")
    return pd.DataFrame(
        {
            "shipment_id": ships["shipment_id"].to_numpy(),
            "as_of": (ships["created_at"] + pd.to_timedelta(hours, unit="us")).to_numpy(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--single-calls", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tables = _world()
    started = time.perf_counter()
    context = build_context(tables)
    context_s = time.perf_counter() - started

    print(f"Context over the whole default world: {context_s:.2f} s\n")
    print("| snapshots | build_features (s) | incl. context (s) | µs per snapshot |")
    print("|---:|---:|---:|---:|")
    for n in args.sizes:
        snaps = _snapshots(tables, n, rng)
        started = time.perf_counter()
        frame = build_features(tables, snaps, context=context)
        took = time.perf_counter() - started
        assert len(frame) == n
        print(f"| {n:,} | {took:.2f} | {took + context_s:.2f} | {took / n * 1e6:.1f} |")

    # Serving: the request carries one parcel and its scans; the context is loaded once.
    ids = tables.shipments["shipment_id"].sample(args.single_calls, random_state=1).to_numpy()
    events = tables.scan_events.set_index("shipment_id")
    ships = tables.shipments.set_index("shipment_id")
    latencies = []
    for sid in ids:
        request = tables.replace(
            shipments=ships.loc[[sid]].reset_index(),
            scan_events=events.loc[[sid]].reset_index()
            if sid in events.index
            else events.iloc[:0].reset_index(),
        )
        as_of = request.shipments["created_at"].iloc[0] + pd.Timedelta(hours=10)
        snap = pd.DataFrame({"shipment_id": [sid], "as_of": [as_of]})
        started = time.perf_counter()
        build_features(request, snap, context=context)
        latencies.append((time.perf_counter() - started) * 1000)
    lat = np.array(latencies[10:])  # first calls warm caches
    print("\n| single shipment (serving path) | p50 (ms) | p90 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|")
    print(
        f"| build_features, 1 snapshot, loaded context | {np.percentile(lat, 50):.2f} | "
        f"{np.percentile(lat, 90):.2f} | {np.percentile(lat, 99):.2f} |"
    )


if __name__ == "__main__":
    main()
