"""Simulator cost from 10k to 1M shipments: wall time and peak memory, one process per size.

Run: `make bench` or `.venv/bin/python -m bench.bench_simulator [--sizes 10000 100000 1000000]`.
Prints a Markdown table (paste it into docs/benchmarks.md with the date).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)


def measure(shipments: int) -> dict[str, float]:
    """Simulate the default world with `shipments` parcels in this process; time and memory."""
    from sources.synthetic import SimulationConfig, simulate

    started = time.perf_counter()
    world = simulate(SimulationConfig(shipments=shipments))
    simulated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        world.write(Path(tmp))
        written = time.perf_counter() - started
        size_mb = sum(f.stat().st_size for f in Path(tmp).rglob("*.parquet")) / 2**20
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "shipments": shipments,
        "events": len(world.tables.scan_events),
        "simulate_s": simulated,
        "write_s": written,
        "peak_rss_mb": peak_mb,
        "parquet_mb": size_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_simulator", "--one", str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"  {size:>9,} shipments: {r['simulate_s']:.1f} s", file=sys.stderr)
    base = rows[0]
    print(
        "| shipments | scan events | simulate (s) | write Parquet (s) | peak RSS (MB) | "
        "Parquet (MB) | µs per shipment | time vs smallest |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        per = r["simulate_s"] / r["shipments"] * 1e6
        growth = r["simulate_s"] / base["simulate_s"]
        print(
            f"| {r['shipments']:,} | {r['events']:,} | {r['simulate_s']:.2f} | {r['write_s']:.2f} "
            f"| {r['peak_rss_mb']:,.0f} | {r['parquet_mb']:.1f} | {per:.1f} | {growth:.1f}x |"
        )


if __name__ == "__main__":
    main()
