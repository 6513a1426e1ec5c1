"""The predictor's rows as the alert policy's input, and which of them the policy can act on.

A watch pass hands the policy every parcel in flight, most of which leave their alert state as
it is and alert nobody. `may_act` finds the others with array arithmetic on the predictions
and the stored states (the same rules `policy.decide` applies one parcel at a time), so that
only they become `Scored` objects and go through `decide` (serving/alerts/store.py,
`decide_pass`; tests/serving/test_alert_candidates.py proves the two equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from serving.alerts.policy import AlertKind, AlertPolicy, Scored
from training.reasons import REASONS

REASON_SLOTS = (1, 2, 3)
SCORED_COLUMNS = ("shipment_id", "as_of", "risk", "eta_p10", "eta_p50", "eta_p90")


def scored_batch(
    frame: pd.DataFrame, promised_at: Sequence[Any], model_version: str
) -> list[Scored]:
    """The predictor's rows as the alert policy's input (`promised_at`: each row's promise).

    From column lists, not `to_dict("records")` and the API's reason models: a watch pass
    builds one for every parcel in flight.
    """
    shares = [
        (frame[f"reason_{k}"].tolist(), frame[f"reason_{k}_share"].tolist()) for k in REASON_SLOTS
    ]
    columns = [frame[name].tolist() for name in SCORED_COLUMNS]
    naive = [i for i, v in enumerate(promised_at) if getattr(v, "tzinfo", None) is None]
    if naive:
        raise ValueError(f"promised_at of row {naive[0]} is not timezone-aware")
    promised = pd.to_datetime(pd.Series(list(promised_at), dtype=object), utc=True).tolist()
    out = []
    for i, (shipment_id, as_of, risk, p10, p50, p90) in enumerate(zip(*columns, strict=True)):
        reasons = tuple(
            (codes[i], round(float(values[i]), 4))
            for codes, values in shares
            if isinstance(codes[i], str) and codes[i] in REASONS
        )
        out.append(
            Scored(
                shipment_id=shipment_id,
                promised_at=promised[i],
                as_of=as_of,
                risk=float(risk),
                eta_p10=p10,
                eta_p50=p50,
                eta_p90=p90,
                reasons=reasons,
                model_version=model_version,
            )
        )
    return out


def may_act(
    risk: np.ndarray,
    eta_p50: np.ndarray,
    states: pd.DataFrame,
    policy: AlertPolicy,
) -> np.ndarray:
    """Which predictions `decide` would move the state of, or alert on (one per promise).

    Args:
        risk: Each prediction's risk.
        eta_p50: Its P50 ETA (datetime64, UTC).
        states: The stored state of each prediction's promise, aligned with it: `active`
            (False where none is stored), `last_alert_p50`, `last_alert_p10`,
            `last_alert_p90` (datetime64, NaT where none) and `last_alert_kind` (text or
            missing).
        policy: Thresholds.

    The rest leave their state as it is and alert nobody: inactive and staying so, or active
    and staying so with an alert sent whose window still holds the P50.
    """
    was = states["active"].to_numpy(dtype=bool)
    active = np.where(risk >= policy.enter, True, np.where(risk < policy.exit, False, was))
    flips = active != was  # entering (LATE or ETA_CHANGED) or leaving (BACK_ON_TRACK)
    p50 = _ns(eta_p50)
    last, low, high = (
        _ns(states[c]) for c in ("last_alert_p50", "last_alert_p10", "last_alert_p90")
    )
    move = pd.Timedelta(hours=policy.eta_move_h).to_timedelta64()
    windowed = ~np.isnat(low) & ~np.isnat(high)
    with np.errstate(invalid="ignore"):
        moved = np.where(
            windowed,
            (p50 > high + move) | (p50 < low - move),
            np.abs(p50 - last) > move,
        )
    told_back = (states["last_alert_kind"].astype(object) == str(AlertKind.BACK_ON_TRACK)).to_numpy(
        bool
    )
    return flips | (active & (np.isnat(last) | moved | told_back))


def _ns(values: Any) -> np.ndarray:
    """Naive UTC datetime64[ns] (the policy compares pandas Timestamps, at nanoseconds)."""
    stamps = pd.to_datetime(pd.Series(values, copy=False), utc=True)
    return stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
