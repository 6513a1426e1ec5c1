"""Rolling recalibration: reads only outcomes known at refit time, and follows a shift."""

import numpy as np
import pandas as pd
import pytest

from training.metrics import expected_calibration_error
from training.recalibration import (
    MIN_RISK_ROWS,
    Recalibration,
    fit_recalibration,
    rolling,
)

pytestmark = pytest.mark.unit

T0 = pd.Timestamp("2025-12-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)


def world(n: int = 20_000, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Scored snapshots over 30 days whose true late rate is the raw score plus `shift`."""
    rng = np.random.default_rng(seed)
    as_of = T0 + pd.to_timedelta(rng.uniform(0, 30 * 24, n), unit="h")
    raw = rng.uniform(0.02, 0.6, n)
    late = rng.random(n) < np.clip(raw + shift, 0, 1)
    promise_h = rng.uniform(12, 72, n)
    # on time: delivered before the promise; late: up to two days after it
    delivered_h = np.where(
        late, promise_h + rng.uniform(1, 48, n), promise_h * rng.uniform(0.3, 1.0, n)
    )
    mid = delivered_h * rng.uniform(0.8, 1.2, n)
    return pd.DataFrame(
        {
            "as_of": as_of,
            "promised_at": as_of + pd.to_timedelta(promise_h, unit="h"),
            "delivered_at": as_of + pd.to_timedelta(delivered_h, unit="h"),
            "raw": raw,
            "low": mid - 4,
            "high": mid + 4,
            "group": np.where(rng.random(n) < 0.5, "HUB_IN", "OUT_FOR_DELIVERY"),
            "late": late,
        }
    )


def test_refit_reads_nothing_known_after_its_time():
    history = world()
    at = T0 + pd.Timedelta(days=20)
    before = fit_recalibration(history, at, "m")
    future = history.copy()
    unknown = (future["promised_at"] >= at) & ~(future["delivered_at"] < at)
    # rewrite every outcome not yet known at `at`: deliveries after it, promises after it
    future.loc[unknown, "delivered_at"] = future.loc[unknown, "as_of"] + pd.Timedelta(days=9)
    future.loc[future["as_of"] >= at, ["raw", "low", "high"]] = 0.99
    after = fit_recalibration(future, at, "m")
    assert before is not None and after is not None
    assert before.risk_x == after.risk_x and before.risk_y == after.risk_y
    assert before.margins == pytest.approx(after.margins)


def test_a_known_outcome_does_change_the_refit():
    history = world()
    at = T0 + pd.Timedelta(days=20)
    changed = history.copy()
    known = (changed["promised_at"] < at) & (changed["as_of"] >= at - pd.Timedelta(days=21))
    rescued = known & changed["late"] & (changed["raw"] > 0.3)  # late parcels now on time
    changed.loc[rescued, "delivered_at"] = changed.loc[rescued, "promised_at"] - HOUR
    assert fit_recalibration(history, at, "m").risk_y != fit_recalibration(changed, at, "m").risk_y


def test_refit_follows_a_shift_the_static_map_misses():
    shifted = world(shift=0.15, seed=1)
    at = T0 + pd.Timedelta(days=30)
    recal = fit_recalibration(shifted, at, "m", days=21)
    fresh = world(shift=0.15, seed=2)
    y = fresh["late"].to_numpy(float)
    static = expected_calibration_error(y, fresh["raw"].to_numpy())
    refit = expected_calibration_error(y, recal.risk(fresh["raw"].to_numpy()))
    assert static > 0.1 and refit < 0.02


def test_parcels_still_in_flight_widen_the_margin():
    history = world()
    at = T0 + pd.Timedelta(days=25)
    stalled = history.copy()
    # a third of the recent parcels are stuck: not delivered by `at`
    stuck = np.random.default_rng(3).random(len(stalled)) < 0.33
    stalled.loc[stuck, "delivered_at"] = pd.NaT
    normal = fit_recalibration(history, at, "m")
    wide = fit_recalibration(stalled, at, "m")
    assert wide.margins["*"] > normal.margins["*"] + 5


def test_too_little_history_is_no_refit():
    history = world(n=MIN_RISK_ROWS // 2)
    assert fit_recalibration(history, T0 + pd.Timedelta(days=30), "m") is None
    assert fit_recalibration(world(), T0, "m") is None  # nothing before T0


def test_rolling_refits_each_day_on_that_day_s_past():
    history = world()
    targets = history[history["as_of"] >= T0 + pd.Timedelta(days=24)].reset_index(drop=True)
    risk, margin = rolling(history, targets, "m")
    assert not np.isnan(risk).any() and not np.isnan(margin).any()
    # the last day: a refit at its midnight gives exactly the same answers
    last = targets["as_of"].dt.floor("D").max()
    mine = (targets["as_of"].dt.floor("D") == last).to_numpy()
    fitted = fit_recalibration(history, last, "m")
    assert risk[mine] == pytest.approx(fitted.risk(targets.loc[mine, "raw"].to_numpy()))
    # outcomes known only after the last day change nothing
    later = history.copy()
    after = later["promised_at"] >= last + pd.Timedelta(days=1)
    later.loc[after, "delivered_at"] = pd.NaT
    again, _ = rolling(later, targets, "m")
    assert again[mine] == pytest.approx(risk[mine])


def test_written_and_read_back(tmp_path):
    recal = fit_recalibration(world(), T0 + pd.Timedelta(days=30), "abc")
    recal.write(tmp_path)
    assert Recalibration.read(tmp_path) == recal
    assert Recalibration.read(tmp_path / "nothing") is None
