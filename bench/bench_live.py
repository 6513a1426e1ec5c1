"""The live watch end to end: alert quality through the live path, ingest, passes, reads.

Run after `make demo` (it needs data/simulated): `.venv/bin/python -m bench.bench_live`.
Prints Markdown tables for docs/benchmarks.md. Parts (`--parts`, default all):

- alerts: trains the backtest model only (`--no-refit`: it never saw the evaluation weeks)
  into an MLflow store of its own (data/bench_live/, reused by later runs; `--retrain`),
  serves it with `bentoml serve`, replays `--days` of the evaluation weeks through the API
  with a pass every simulated hour, and scores the alerts the outbox holds against the
  world's outcomes: late parcels alerted >= 12 h before the promise, precision, alerts per
  alerted parcel. Then GET /shipments/{id} and GET /at-risk under 10 concurrent clients on
  that service, back to back and paced.
- reads: the same read latencies after a short replay into the champion (a quick check).
- ingest: scans per second into the state store (SQLite; PostgreSQL when a server can be
  started), and through POST /events (from the alerts part's history load).
- pass: one watcher pass with about 10k and 100k parcels in flight (worlds simulated at that
  volume, ingested into SQLite), time by phase.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from cli.demo.processes import running_service
from cli.demo.receiver import WebhookReceiver
from contract.tables import Tables
from serving.alerts import AlertStore, Scored
from serving.alerts.signing import new_secret
from serving.messages import MessageBook
from serving.settings import Settings
from serving.watch.replay import Replay, run_replay
from serving.watch.store import StateStore
from serving.watch.targets import HttpTarget
from serving.watch.watcher import Watcher

TOKEN = "bench-live"
LEAD_H = 12.0


def _print_table(title: str, header: list[str], rows: Iterable[list[str]]) -> None:
    """A Markdown table, each row printed as soon as it is measured."""
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|", flush=True)
    for row in rows:
        print("| " + " | ".join(row) + " |", flush=True)


# --- alert quality through the live path -----------------------------------------------------


BACKTEST_STORE = Path("data/bench_live")  # the backtest model, kept between runs
POLICY = Settings.load({}).alert_policy()  # the service's defaults
RUN_STORE = BACKTEST_STORE / "run"  # the latest replay's state store and outbox


def train_backtest(data: Path, root: Path, retrain: bool) -> str:
    """The backtest model (trained without the refit, in a store of its own): its runs:/ URI.

    Trained once and kept in `root`; `retrain` trains it again.
    """
    import mlflow

    tracking = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    if (root / "mlflow.db").exists() and not retrain:
        runs = mlflow.search_runs(search_all_experiments=True, order_by=["start_time DESC"])
        if len(runs):
            return f"runs:/{runs.iloc[0]['run_id']}/model"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking,
        "STALLGUARD_ARTIFACTS": str(root / "art"),
    }
    bin_dir = Path(sys.executable).parent
    started = time.monotonic()
    subprocess.run(
        [str(bin_dir / "stallguard"), "train", "--data", str(data), "--no-refit"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"trained the backtest model in {time.monotonic() - started:.0f} s", file=sys.stderr)
    run = mlflow.search_runs(search_all_experiments=True, order_by=["start_time DESC"]).iloc[0]
    return f"runs:/{run['run_id']}/model"


def alert_quality(
    tables: Tables, outbox: AlertStore, start: pd.Timestamp, end: pd.Timestamp
) -> dict[str, float]:
    """Parcels promised in the replay (from 12 h after its start): the outbox vs outcomes."""
    rows = [json.loads(r.payload) for r in outbox.rows()]
    return score_alerts(
        tables,
        pd.DataFrame(
            [
                {
                    "shipment_id": r["data"]["shipment_id"],
                    "kind": r["data"]["kind"],
                    "as_of": pd.Timestamp(r["data"]["as_of"]),
                }
                for r in rows
            ],
            columns=["shipment_id", "kind", "as_of"],
        ),
        start,
        end,
    )


def score_alerts(
    tables: Tables, alerts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> dict[str, float]:
    """Alerts (shipment_id, kind, as_of) against the world's outcomes."""
    ships = tables.shipments.set_index("shipment_id")
    due = ships[
        (ships["promised_at"] >= start + pd.Timedelta(hours=LEAD_H)) & (ships["promised_at"] <= end)
    ]
    late = (due["delivered_at"] > due["promised_at"]) | due["delivered_at"].isna()
    first = alerts[alerts["kind"] == "LATE"].groupby("shipment_id")["as_of"].min()
    first = first.reindex(due.index)
    early = (due["promised_at"] - first) >= pd.Timedelta(hours=LEAD_H)
    alerted = alerts[alerts["shipment_id"].isin(due.index)]
    per_parcel = alerted.groupby("shipment_id").size()
    bad_news = alerted[alerted["kind"] != "BACK_ON_TRACK"].groupby("shipment_id").size()
    return {
        "parcels": float(len(due)),
        "late": float(late.sum()),
        "recall_12h": float((early & late).sum() / max(late.sum(), 1)),
        "precision_12h": float((early & late).sum() / max(early.sum(), 1)),
        "alerted": float(first.notna().sum()),
        "precision_any": float((first.notna() & late).sum() / max(first.notna().sum(), 1)),
        "alerts_per_alerted": float(per_parcel.mean()) if len(per_parcel) else float("nan"),
        "bad_news_per_alerted": float(bad_news.mean()) if len(bad_news) else float("nan"),
        **{
            f"n_{k}": float((alerted["kind"] == k).sum())
            for k in ("LATE", "ETA_CHANGED", "BACK_ON_TRACK")
        },
    }


def read_latency(
    url: str, ids: list[str], clients: int = 10, per_client: int = 200, rate: float = 0.0
) -> dict[str, tuple[float, float, int]]:
    """p50/p99 ms and count of GET /shipments/{id} and GET /at-risk, `clients` threads at once.

    `rate`: requests per second per client (0: back to back, the service saturated).
    """
    out: dict[str, list[float]] = {"shipment": [], "at_risk": []}
    lock = threading.Lock()
    regions = ["Seoul", "Busan", "Gyeonggi", None]

    def work(seed: int) -> None:
        local = np.random.default_rng(seed)
        mine: dict[str, list[float]] = {"shipment": [], "at_risk": []}
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            due = time.perf_counter() + float(local.uniform(0, 1 / rate)) if rate else 0.0
            for i in range(per_client):
                if rate:
                    time.sleep(max(0.0, due - time.perf_counter()))
                    due += 1 / rate
                t = time.perf_counter()
                if i % 2:
                    sid = ids[int(local.integers(len(ids)))]
                    client.get(f"/shipments/{sid}", params={"lang": "ko"}).raise_for_status()
                    mine["shipment"].append((time.perf_counter() - t) * 1000)
                else:
                    region = regions[int(local.integers(len(regions)))]
                    params = {"limit": 50, **({"region": region} if region else {})}
                    client.get("/at-risk", params=params).raise_for_status()
                    mine["at_risk"].append((time.perf_counter() - t) * 1000)
        with lock:
            for k, v in mine.items():
                out[k].extend(v)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        k: (float(np.percentile(v, 50)), float(np.percentile(v, 99)), len(v))
        for k, v in out.items()
    }


def read_rows(url: str, ids: list[str]) -> list[list[str]]:
    """The read table: saturated, and paced at 10 and 2 requests/s per client."""
    rows = []
    for rate, label in ((0.0, "back to back"), (10.0, "10/s each"), (2.0, "2/s each")):
        got = read_latency(url, ids, rate=rate, per_client=200 if rate != 2.0 else 60)
        for route, name, target in (
            ("shipment", "GET /shipments/{id}?lang=ko", "<= 5"),
            ("at_risk", "GET /at-risk?limit=50[&region=]", "<= 20"),
        ):
            p50, p99, n = got[route]
            rows.append([name, label, f"{n}", f"{p50:.1f}", f"{p99:.1f}", target])
    return rows


def part_alerts(data: Path, days: float, skip_after: float, retrain: bool) -> dict[str, float]:
    tables = Tables.read(data)
    uri = train_backtest(data, BACKTEST_STORE, retrain)
    root = RUN_STORE  # kept: the policy sweep replays the alert policy on its predictions
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    if True:
        events = tables.scan_events["event_time"]
        # The backtest evaluates the last 20% of the period; start inside it, after the
        # context's 28-day windows have filled with evaluation-period outcomes.
        span = events.max() - events.min()
        start = (events.min() + 0.8 * span + pd.Timedelta(days=skip_after)).ceil("h")
        replay = Replay(tables, start, days)
        rx = WebhookReceiver()
        env = {
            "MLFLOW_TRACKING_URI": f"sqlite:///{BACKTEST_STORE / 'mlflow.db'}",
            "STALLGUARD_ARTIFACTS": str(BACKTEST_STORE / "art"),
            "STALLGUARD_MODEL_URI": uri,
            "STALLGUARD_STATE_URL": f"sqlite:///{root / 'state.db'}",
            "STALLGUARD_OUTBOX_URL": f"sqlite:///{root / 'outbox.db'}",
            "STALLGUARD_WATCH_EVERY": "0",
            "STALLGUARD_API_TOKEN": TOKEN,
            "STALLGUARD_PII_KEY": "bench",
            "STALLGUARD_WEBHOOK_URL": rx.url,
            "STALLGUARD_WEBHOOK_SECRET": new_secret(),
        }
        with running_service(env, log_file=root / "service.log") as url:
            target = HttpTarget(url, TOKEN)
            marks: dict[str, float] = {}

            def loaded(table: str, done: int, total: int) -> None:
                marks.setdefault(f"{table}_start", time.perf_counter())
                marks[f"{table}_end"] = time.perf_counter()
                marks[f"{table}_rows"] = done

            def stepped(step, summary) -> None:
                if summary.passes % 24 == 0:
                    print(
                        f"  {step.end:%Y-%m-%d %H:%M} passes {summary.passes}/{replay.steps} "
                        f"alerts {summary.alerts}",
                        file=sys.stderr,
                    )

            first_post = time.perf_counter()
            summary = run_replay(replay, target, 0.0, loaded, stepped)
            target.close()
            marks["scan_events_start"] = marks.get("shipments_end", first_post)
            outbox = AlertStore(env["STALLGUARD_OUTBOX_URL"])
            quality = alert_quality(tables, outbox, replay.start, replay.end)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                ids = [
                    i["shipment_id"]
                    for i in c.get("/at-risk", params={"limit": 500}).json()["items"]
                ]
                threshold = c.get("/model").json().get("threshold", float("nan"))
            reads = read_rows(url, ids)
        rx.close()
        http_events = marks["scan_events_rows"] / (
            marks["scan_events_end"] - marks["scan_events_start"]
        )
        (root / "replay.json").write_text(
            json.dumps({"start": start.isoformat(), "end": replay.end.isoformat()})
        )
        return {
            **quality,
            "threshold": threshold,
            "start": start.isoformat(),
            "days": days,
            "passes": summary.passes,
            "pass_s": summary.pass_s / max(summary.passes, 1),
            "history_s": summary.history_s,
            "http_events_per_s": http_events,
            "reads": reads,
        }


# (enter, exit, ETA move in hours) tried by the sweep.
SWEEP = [
    (0.60, 0.40, 12),  # the first policy
    (0.345, 0.23, 12),
    (0.345, 0.15, 24),
    (0.40, 0.267, 12),
    (0.40, 0.267, 24),
    (0.40, 0.20, 24),
    (0.40, 0.15, 24),
    (0.40, 0.10, 24),
    (0.40, 0.15, 36),
    (0.38, 0.15, 24),
    (0.45, 0.15, 24),
]


def part_sweep(data: Path) -> Iterator[list[str]]:
    """The alert policy replayed on the last alerts run's logged predictions, pass by pass.

    The predictions do not depend on the policy, so each candidate sees exactly what the live
    watch saw; its alerts are scored as the alerts part scores the outbox.
    """
    from serving.alerts.policy import AlertPolicy, decide
    from serving.watch.schema import prediction_log

    tables = Tables.read(data)
    window = json.loads((RUN_STORE / "replay.json").read_text())
    start, end = pd.Timestamp(window["start"]), pd.Timestamp(window["end"])
    store = StateStore(f"sqlite:///{RUN_STORE / 'state.db'}", "bench", tables.locale)
    with store.reading() as conn:
        log = pd.read_sql(prediction_log.select(), conn)
    for name in ("as_of", "eta_p10", "eta_p50", "eta_p90"):
        log[name] = pd.to_datetime(log[name]).dt.tz_localize("UTC")
    log = log[log["as_of"] > start].sort_values(["as_of", "shipment_id"], kind="stable")
    promised = tables.shipments.set_index("shipment_id")["promised_at"]
    log["promised_at"] = log["shipment_id"].map(promised)
    reasons: tuple[tuple[str, float], ...] = ()
    batches = [
        [
            Scored(
                r.shipment_id,
                r.promised_at,
                r.as_of,
                float(r.risk),
                r.eta_p10,
                r.eta_p50,
                r.eta_p90,
                reasons,
                r.model_version,
            )
            for r in group.itertuples()
        ]
        for _, group in log.groupby("as_of", sort=True)
    ]

    class Silent:
        def render(self, kind, scored, lang):
            return ""

        def compensation_for(self, scored):
            return None

    for enter, leave, move in SWEEP:
        policy = AlertPolicy(enter, leave, move)
        states: dict = {}
        emitted: set[str] = set()
        alerts = []
        for batch in batches:
            alerts += decide(batch, states, emitted, policy, Silent())
        outbox_rows = [
            {"shipment_id": a.shipment_id, "kind": str(a.kind), "as_of": a.scored.as_of}
            for a in alerts
        ]
        q = score_alerts(
            tables, pd.DataFrame(outbox_rows, columns=["shipment_id", "kind", "as_of"]), start, end
        )
        yield [
            f"{enter:.3f} / {leave:.3f} / {move} h",
            f"{q['recall_12h']:.3f}",
            f"{q['precision_12h']:.3f}",
            f"{q['alerts_per_alerted']:.2f}",
            f"{q['bad_news_per_alerted']:.2f}",
            f"{q['n_LATE']:.0f} / {q['n_ETA_CHANGED']:.0f} / {q['n_BACK_ON_TRACK']:.0f}",
        ]


def part_reads(data: Path, days: float = 2.0) -> list[list[str]]:
    """A short replay into the served champion, then the read latencies."""
    tables = Tables.read(data)
    start = tables.scan_events["event_time"].max() - pd.Timedelta(days=days)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "STALLGUARD_STATE_URL": f"sqlite:///{tmp}/state.db",
            "STALLGUARD_OUTBOX_URL": f"sqlite:///{tmp}/outbox.db",
            "STALLGUARD_WATCH_EVERY": "0",
            "STALLGUARD_API_TOKEN": TOKEN,
        }
        with running_service(env, log_file=Path(tmp) / "service.log") as url:
            target = HttpTarget(url, TOKEN)
            run_replay(Replay(tables, start, days), target)
            target.close()
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                items = c.get("/at-risk", params={"limit": 500}).json()["items"]
            return read_rows(url, [i["shipment_id"] for i in items])


# --- ingest ----------------------------------------------------------------------------------


def ingest_rate(url: str, tables: Tables, parcels: int = 20_000) -> tuple[int, float]:
    """Scans per second into a fresh store (after its shipments), in 5,000-row batches."""
    ships = tables.shipments.head(parcels)
    events = tables.scan_events[tables.scan_events["shipment_id"].isin(ships["shipment_id"])]
    events = events.sort_values("event_time").reset_index(drop=True)
    store = StateStore(url, "bench", tables.locale)
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    for start in range(0, len(ships), 5000):
        store.put_shipments(ships.iloc[start : start + 5000], now)
    started = time.perf_counter()
    for start in range(0, len(events), 5000):
        store.put_events(events.iloc[start : start + 5000], now)
    seconds = time.perf_counter() - started
    store.close()
    return len(events), seconds


def part_ingest(data: Path) -> list[list[str]]:
    tables = Tables.read(data)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        n, s = ingest_rate(f"sqlite:///{tmp}/state.db", tables)
        rows.append(["SQLite (WAL), store", f"{n:,}", f"{s:.1f}", f"{n / s:,.0f}"])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    try:
        from support.postgres import postgres_server  # the tests' throwaway server

        with postgres_server() as url:
            n, s = ingest_rate(url, tables)
            rows.append(["PostgreSQL 15, store", f"{n:,}", f"{s:.1f}", f"{n / s:,.0f}"])
    except Exception as err:  # no server here: say so in the table
        rows.append(["PostgreSQL", "-", "-", f"not measured: {type(err).__name__}: {err}"[:80]])
    return rows


# --- pass time at scale ----------------------------------------------------------------------


def _arrive(store: StateStore, tables: Tables, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Ingest what reached the store between two times, as the API would: the parcels
    created (outcome unknown), then the scans. Returns the scans stored.
    """
    ships = tables.shipments
    new = ships[(ships["created_at"] > start) & (ships["created_at"] <= end)]
    events = tables.scan_events
    scans = events[(events["event_time"] > start) & (events["event_time"] <= end)]
    now = dt.datetime.now(dt.UTC)
    store.put_shipments(new.assign(delivered_at=pd.NaT, final_status=None), now)
    return sum(r.status == "accepted" for r in store.put_events(scans, now))


# Passes of one watcher after the first (03:00 UTC), each after ingesting what arrived since
# the last: (label, hours after the first pass). The last two straddle midnight UTC at the
# 5-minute cadence: the day's first pass rebuilds the daily series (serving/watch/
# context_keeper.py) with no more arrivals to take in than any other pass; the one before it
# takes in the 20 hours the bench skipped.
PASSES = (
    ("5 min later", 5 / 60),
    ("next hour", 1.0),
    ("23:55 (20 h of arrivals)", 20 + 55 / 60),
    ("00:00, the day's first pass", 21.0),
)


def part_pass(sizes: list[int]) -> Iterator[list[str]]:
    from serving.model_source import load_served_model
    from serving.watch.ingest import ingest_tables
    from sources.synthetic import SimulationConfig, simulate
    from training.config import TrackingConfig

    served = load_served_model("models:/stallguard@champion", TrackingConfig())
    served.predictor.compile_trees()  # as `stallguard watch` does (from the cache once compiled)
    policy = Settings.load({}).alert_policy()
    for in_flight in sizes:
        # About 3.7 days in flight per parcel (measured: 370k parcels over 10 days put 137k in
        # flight at the first pass): a 10-day world at this daily volume.
        config = SimulationConfig(
            shipments=int(in_flight / 3.7 * 10),
            start=pd.Timestamp("2025-11-01").date(),
            days=10,
            seed=11,
        )
        world = simulate(config)
        tables = world.tables
        as_of = pd.Timestamp("2025-11-08T03:00:00Z")
        with tempfile.TemporaryDirectory() as tmp:
            store = StateStore(f"sqlite:///{tmp}/state.db", "bench", tables.locale)
            known = tables.shipments[tables.shipments["created_at"] <= as_of]
            known = known.assign(delivered_at=pd.NaT, final_status=None)
            events = tables.scan_events[tables.scan_events["event_time"] <= as_of]
            started = time.perf_counter()
            ingest_tables(store, tables.replace(shipments=known, scan_events=events))
            ingest_s = time.perf_counter() - started
            outbox = AlertStore(f"sqlite:///{tmp}/outbox.db")
            book = MessageBook(timezone=tables.locale.timezone)
            watcher = Watcher(store, served.predictor, served.label, outbox, policy, book)
            runs = [("first (loads the store)", watcher.run_pass(as_of), 0, 0.0)]
            last = as_of
            for label, hours in PASSES:
                when = as_of + pd.Timedelta(hours=hours)
                started = time.perf_counter()
                scans = _arrive(store, tables, last, when)
                took = time.perf_counter() - started
                runs.append((label, watcher.run_pass(when), scans, took))
                last = when
            for label, result, scans, took in runs:
                total = sum(result.seconds.values())
                phases = " / ".join(
                    f"{result.seconds.get(k, 0.0):.1f}"
                    for k in ("read", "context", "score", "write", "alert")
                )
                yield [
                    f"{result.scored:,}",
                    label,
                    f"{total:.1f}",
                    phases,
                    f"{result.alerts:,}",
                    f"{scans:,} in {took:.1f} s"
                    if scans
                    else f"{len(known):,} / {len(events):,} in {ingest_s:.0f} s",
                ]
            store.close()
            outbox.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/simulated"))
    parser.add_argument("--days", type=float, default=14.0, help="Simulated days replayed.")
    parser.add_argument("--skip-days", type=float, default=28.0, help="Into the evaluation weeks.")
    parser.add_argument("--parts", default="alerts,ingest,pass")
    parser.add_argument(
        "--retrain", action="store_true", help="Train the backtest model again (else reused)."
    )
    parser.add_argument("--sizes", default="10000,100000", help="Parcels in flight per pass.")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"bench_live {pd.Timestamp.now():%Y-%m-%d} on {os.cpu_count()} cores")
    if "alerts" in parts:
        q = part_alerts(args.data, args.days, args.skip_days, args.retrain)
        _print_table(
            f"Alerts through the live path: {q['days']:g} days from {q['start'][:16]}, a pass "
            f"every simulated hour ({q['passes']} passes, {q['pass_s']:.2f} s each on average); "
            f"alert policy {POLICY.enter} / {POLICY.exit} / {POLICY.eta_move_h:g} h, "
            f"model threshold {q['threshold']:.3f}",
            [
                "parcels promised",
                "late",
                "late alerted >= 12 h before",
                "precision (>= 12 h)",
                "precision (any alert)",
                "alerts per alerted parcel",
                "without back-on-track",
                "LATE / ETA_CHANGED / BACK_ON_TRACK",
            ],
            [
                [
                    f"{q['parcels']:,.0f}",
                    f"{q['late']:,.0f}",
                    f"{q['recall_12h']:.3f}",
                    f"{q['precision_12h']:.3f}",
                    f"{q['precision_any']:.3f}",
                    f"{q['alerts_per_alerted']:.2f}",
                    f"{q['bad_news_per_alerted']:.2f}",
                    f"{q['n_LATE']:.0f} / {q['n_ETA_CHANGED']:.0f} / {q['n_BACK_ON_TRACK']:.0f}",
                ]
            ],
        )
        _print_table(
            "Reads on that service, 10 concurrent clients (ms)",
            ["route", "pace", "requests", "p50", "p99", "target p99"],
            q["reads"],
        )
        print(
            f"\nPOST /events during the history load: {q['http_events_per_s']:,.0f} scans/s "
            f"(history {q['history_s']:.1f} s in all)"
        )
    if "sweep" in parts:
        _print_table(
            "The alert policy replayed on the alerts run's predictions (same passes)",
            [
                "enter / exit / ETA move",
                "late alerted >= 12 h",
                "precision (>= 12 h)",
                "alerts per alerted",
                "without back-on-track",
                "LATE / ETA_CHANGED / BACK_ON_TRACK",
            ],
            part_sweep(args.data),
        )
    if "reads" in parts:
        _print_table(
            "Reads after a 2-day replay into the champion, 10 concurrent clients (ms)",
            ["route", "pace", "requests", "p50", "p99", "target p99"],
            part_reads(args.data),
        )
    if "ingest" in parts:
        _print_table(
            "Ingest: scans of 20,000 parcels in 5,000-row batches into a fresh store",
            ["store", "scans", "seconds", "scans/s"],
            part_ingest(args.data),
        )
    if "pass" in parts:
        sizes = [int(s) for s in args.sizes.split(",")]
        _print_table(
            "Watcher passes (SQLite store, the champion), seconds",
            [
                "in flight",
                "pass",
                "total",
                "read / context / score / write / alert",
                "alerts",
                "ingested before it (scans)",
            ],
            part_pass(sizes),
        )


if __name__ == "__main__":
    main()
