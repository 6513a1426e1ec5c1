"""Monitoring measured: how soon a disruption shows, how close the label-free estimate comes.

Run: `.venv/bin/python -m bench.bench_monitoring` (prints Markdown tables for
docs/monitoring.md). Parts (`--parts`, default both):

- outage: the test scenario (tests/support/disruption.py): a world whose Daegu hub sorts
  nothing for two days, a model trained a week before, eight days replayed through the watch
  with a pass every three hours. Prints when each finding first appeared relative to the
  outage's start, the realised and estimated late rate per day, and the incident review
  against the simulator's truth.
- live: the stores `bench.bench_live --parts alerts` left in data/bench_live/run (14 days of
  the default world's evaluation weeks through the live path): the label-free estimate
  against the realised late rate per day, and how long a summary takes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from serving.alerts import AlertStore
from serving.monitoring import records
from serving.monitoring.incident import review
from serving.monitoring.summary import Monitoring, summarize
from serving.watch.store import StateStore
from sources.synthetic import read_hidden_causes, read_hub_outages

# The scenario is the tests' own (one definition): tests/support is not a package on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import disruption

HOUR = pd.Timedelta(hours=1)
LIVE_RUN = Path("data/bench_live/run")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.3f}"
    return str(value)


def _table(frame: pd.DataFrame) -> str:
    """A Markdown table (no tabulate in the stack)."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "|".join("---" for _ in frame.columns) + "|")
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def _daily(m: Monitoring) -> pd.DataFrame:
    daily = m.daily[["day", "predictions", "settled", "late_rate", "estimated_late_rate"]].copy()
    daily["gap"] = daily["late_rate"] - daily["estimated_late_rate"]
    daily["roc_auc"] = m.daily["roc_auc"]
    daily["estimated_roc_auc"] = m.daily["estimated_roc_auc"]
    return daily


def outage() -> None:
    from training.config import TrainConfig
    from training.models import BoosterParams

    # The tests' training settings (tests/conftest.py, fast_config): the same scenario.
    params = BoosterParams(n_rounds=80, num_leaves=31, min_child_samples=50, threads=1)
    config = TrainConfig(
        params=params,
        eta_params=params,
        eta_max_rows=40_000,
        recalibration_days=21.0,
        cross_fit_blocks=0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        run = disruption.replay_disruption(Path(tmp), config)
        print(f"scenario built in {time.perf_counter() - started:.0f} s\n")
        state, outbox = StateStore(run.state_url), AlertStore(run.outbox_url)
        p = run.predictor
        end = disruption.REPLAY_FROM + pd.Timedelta(days=disruption.REPLAY_DAYS)

        def summary(until: pd.Timestamp) -> Monitoring:
            since = until - pd.Timedelta(days=7)
            backtest = p.info.get("backtest", {})
            return summarize(
                state, outbox, p.reference, p.threshold, run.label, backtest,
                disruption.SEOUL, since, until,
            )  # fmt: skip

        first: dict[tuple[str, str], pd.Timestamp] = {}
        passes = records.passes(state, disruption.REPLAY_FROM, end + HOUR)["as_of"]
        timing = []
        for as_of in passes:
            clock = time.perf_counter()
            found = summary(as_of + pd.Timedelta(seconds=1)).findings
            timing.append(time.perf_counter() - clock)
            for f in found:
                first.setdefault((f.kind, f.subject), as_of)
        rows = [
            {
                "finding": kind,
                "about": subject,
                "first seen (KST)": t.tz_convert(disruption.SEOUL).strftime("%m-%d %H:%M"),
                "hours after the outage began": (t - disruption.OUTAGE_START) / HOUR,
            }
            for (kind, subject), t in sorted(first.items(), key=lambda kv: kv[1])
        ]
        print("### When each finding first appeared\n")
        print(_table(pd.DataFrame(rows)))
        print(f"\nsummary per pass: median {pd.Series(timing).median():.2f} s\n")
        print("### Realised against label-free, per day\n")
        print(_table(_daily(summary(end + HOUR))))
        causes = read_hidden_causes(run.world)
        incident = review(
            state, outbox, p.threshold, disruption.OUTAGE_START, end, disruption.SEOUL,
            causes=causes,
        )  # fmt: skip
        _, waits = read_hub_outages(run.world)
        print("\n### Incident review against the simulator\n")
        print(f"stalled: {incident.stalled}; waits recorded by the simulator: {len(waits)}\n")
        print(_table(pd.DataFrame([incident.summary])))
        print()
        print(_table(incident.places.head(3)))


def live() -> None:
    if not (LIVE_RUN / "state.db").exists():
        print(f"no {LIVE_RUN}/state.db: run `python -m bench.bench_live --parts alerts` first")
        return
    state = StateStore(f"sqlite:///{LIVE_RUN / 'state.db'}")
    outbox = AlertStore(f"sqlite:///{LIVE_RUN / 'outbox.db'}")
    last = records.latest_time(state)
    assert last is not None
    clock = time.perf_counter()
    m = summarize(
        state, outbox, None, 0.4, "backtest", {}, "Asia/Seoul",
        since=last - pd.Timedelta(days=30), until=last + HOUR,
    )  # fmt: skip
    seconds = time.perf_counter() - clock
    counts = state.counts()
    print(f"### Live path, default world ({counts['prediction_log']:,} logged predictions)\n")
    print(f"summary in {seconds:.1f} s\n")
    daily = _daily(m)
    print(_table(daily))
    settled = daily[daily["settled"] >= 0.95]
    print(
        f"\nsettled days: {len(settled)}, mean |realised - estimated| late rate "
        f"{settled['gap'].abs().mean():.3f}, max {settled['gap'].abs().max():.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="outage,live")
    parts = parser.parse_args().parts.split(",")
    for name in parts:
        {"outage": outage, "live": live}[name]()


if __name__ == "__main__":
    main()
