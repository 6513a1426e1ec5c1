"""The store decides only on the entries that can alert, and looks up only the keys they can
emit: over random batches (repeats, stored states, ETA moves) it emits exactly what the plain
policy emits on every entry with every key it ever emitted in hand."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from serving.alerts import AlertPolicy, AlertStore, Scored
from serving.alerts.batch import scored_batch
from serving.alerts.policy import State, _hour, decide
from serving.messages import MessageBook

pytestmark = pytest.mark.serving

NOW = pd.Timestamp("2025-12-12T00:00:00Z")
POLICY = AlertPolicy(0.6, 0.4, 12.0)
BOOK = MessageBook()


def random_batch(rng: random.Random, size: int) -> list[Scored]:
    """Entries for a few shipments and promises: risks around both thresholds, moving ETAs."""
    out = []
    for _ in range(size):
        promised = NOW + pd.Timedelta(days=rng.choice([1, 2]))
        p50 = promised + pd.Timedelta(hours=rng.choice([-30, 0, 7, 20, 45, 90]))
        out.append(
            Scored(
                shipment_id=f"SHP-{rng.randrange(12)}",
                promised_at=promised,
                as_of=NOW,
                risk=rng.choice([0.05, 0.3, 0.39, 0.4, 0.5, 0.6, 0.61, 0.95]),
                eta_p10=p50 - pd.Timedelta(hours=10),
                eta_p50=p50,
                eta_p90=p50 + pd.Timedelta(hours=20),
                reasons=(("WEATHER", 0.7),),
                model_version="stallguard/3",
            )
        )
    return out


@pytest.mark.parametrize("seed", range(8))
def test_store_emits_what_the_policy_emits_on_every_entry(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    states: dict[tuple[str, pd.Timestamp], State] = {}
    emitted: set[str] = set()
    with AlertStore(f"sqlite:///{tmp_path / 'outbox.db'}") as store:
        for _ in range(40):
            batch = random_batch(rng, rng.randrange(1, 15))
            expected = decide(batch, states, emitted, POLICY, BOOK)
            for state in states.values():
                state.changed = False
            got = store.decide(batch, POLICY, NOW, BOOK)
            assert [(a.key, a.kind) for a in got] == [(a.key, a.kind) for a in expected]
    assert emitted  # the batches did alert, of every kind
    assert {key.split("-")[0] for key in emitted} == {"LATE", "ETA_CHANGED", "BACK_ON_TRACK"}


def test_hour_of_a_key_is_the_floored_hour() -> None:
    rng = random.Random(0)
    for _ in range(2_000):
        ts = pd.Timestamp(rng.randrange(-(10**18), 4 * 10**18), tz="UTC")
        assert _hour(ts) == ts.floor("h").isoformat()
    tokyo = pd.Timestamp("2025-11-08T09:30:00+09:00")
    assert _hour(tokyo) == "2025-11-08T00:00:00+00:00"


def random_pass(rng: random.Random) -> pd.DataFrame:
    """A pass's predictor frame: each of some shipments once, promises that sometimes move."""
    ids = rng.sample(range(30), rng.randrange(1, 30))
    rows = []
    for k in ids:
        promised = NOW + pd.Timedelta(days=rng.choice([1, 1, 1, 2]))
        p50 = promised + pd.Timedelta(hours=rng.choice([-30, 0, 7, 20, 45, 90]))
        rows.append(
            {
                "shipment_id": f"SHP-{k}",
                "as_of": NOW,
                "risk": rng.choice([0.05, 0.3, 0.39, 0.4, 0.5, 0.6, 0.61, 0.95]),
                "eta_p10": p50 - pd.Timedelta(hours=rng.choice([5, 10])),
                "eta_p50": p50,
                "eta_p90": p50 + pd.Timedelta(hours=rng.choice([10, 20])),
                "reason_1": "WEATHER",
                "reason_1_share": 0.7,
                "reason_2": None,
                "reason_2_share": 0.0,
                "reason_3": None,
                "reason_3_share": 0.0,
                "promised_at": promised,
            }
        )
    frame = pd.DataFrame(rows)
    for name in ("as_of", "eta_p10", "eta_p50", "eta_p90", "promised_at"):
        frame[name] = frame[name].astype("datetime64[us, UTC]")
    return frame


def stored_states(store: AlertStore) -> list[tuple]:
    with store.reading() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM alert_state ORDER BY 1, 2").fetchall()
    return [row[:-1] for row in rows]  # all but updated_at


@pytest.mark.parametrize("seed", range(6))
def test_a_pass_decides_what_decide_decides_on_every_parcel(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    kinds = set()
    with (
        AlertStore(f"sqlite:///{tmp_path / 'pass.db'}") as by_pass,
        AlertStore(f"sqlite:///{tmp_path / 'each.db'}") as each,
    ):
        for _ in range(40):
            frame = random_pass(rng)
            want = each.decide(
                scored_batch(frame, frame["promised_at"].tolist(), "m/1"), POLICY, NOW, BOOK
            )
            got = by_pass.decide_pass(frame, "m/1", POLICY, NOW, BOOK)
            assert [(a.key, a.payload()) for a in got] == [(a.key, a.payload()) for a in want]
            assert stored_states(by_pass) == stored_states(each)
            kinds.update(a.kind for a in got)
    assert kinds == {"LATE", "ETA_CHANGED", "BACK_ON_TRACK"}


def test_a_pass_refuses_a_parcel_twice(tmp_path: Path) -> None:
    frame = random_pass(random.Random(1))
    twice = pd.concat([frame, frame.head(1)], ignore_index=True)
    with (
        AlertStore(f"sqlite:///{tmp_path / 'o.db'}") as store,
        pytest.raises(ValueError, match="at most once"),
    ):
        store.decide_pass(twice, "m/1", POLICY, NOW, BOOK)
