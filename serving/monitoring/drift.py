"""Feature and prediction drift against the model's training reference.

Each pass's bin counts, pooled over a period, are compared with the training reference
(training/reference.py). Two kinds of features drift differently:

- Parcel features (route, progress, address, order, lane and seller histories, the risk itself)
  differ from parcel to parcel: their spread over a few hours of passes is comparable with the
  reference's, so they are scored by the population stability index (PSI >= 0.25: a
  significant shift, the credit-scoring rule of thumb).
- Context features (hub load, weather, the network's and regions' recent missed rates) are
  one value per hub, region or day, shared by every parcel there: a few hours see a handful of
  values, whose PSI against four weeks is large on any ordinary day. They drift when parcels
  meet conditions far from anything the model trained on: the share of values more than half
  the 0.5-99.5% range beyond that range (training/reference.py) reaching 10%.

Features that only say where the clock is (hour, weekday, holidays ahead, the promise's lead)
move with the calendar, not with the network: they are shown, never flagged. A family's drift
is its most-drifted feature, scored against its threshold (score >= 1: significant);
docs/monitoring.md has what this measured on ordinary days and in a disruption.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.catalog import FEATURES
from serving.monitoring.records import PassCounts
from training.reference import RISK, Reference

PSI_SIGNIFICANT, PSI_MODERATE = 0.25, 0.1
OUTSIDE_SIGNIFICANT = 0.10  # share of a context feature's values far beyond the training range
PREDICTION = "prediction"  # the family of the risk's own profile
CLOCK_FEATURES = frozenset(
    {
        "cal_weekday",
        "cal_hour",
        "cal_created_hour",
        "cal_promised_weekday",
        "cal_is_holiday",
        "cal_days_to_holiday",
        "cal_holidays_before_promise",
        "cal_peak_season",
        "cal_promise_lead_h",
    }
)
CONTEXT_FAMILIES = frozenset({"hub_load", "weather"})
CONTEXT_FEATURES = frozenset(
    {"hist_network_missed_rate", "hist_dest_missed_rate", "hist_origin_missed_rate"}
)
FAMILY = {f.name: f.family for f in FEATURES} | {RISK: PREDICTION}
COLUMNS = ["feature", "family", "scope", "psi", "outside", "score", "level"]


def scope_of(name: str) -> str:
    """How a feature's drift is scored: "clock", "context" or "parcel"."""
    if name in CLOCK_FEATURES:
        return "clock"
    if name in CONTEXT_FEATURES or FAMILY.get(name) in CONTEXT_FAMILIES:
        return "context"
    return "parcel"


def pooled(rows: Sequence[PassCounts]) -> dict[str, np.ndarray]:
    """The bin counts of several passes added up, per column."""
    total: dict[str, np.ndarray] = {}
    for _, _, counts in rows:
        for name, found in counts.items():
            array = np.asarray(found, dtype=np.int64)
            if name not in total:
                total[name] = array
            elif len(total[name]) == len(array):
                total[name] = total[name] + array
    return total


def feature_drift(reference: Reference, rows: Sequence[PassCounts]) -> pd.DataFrame:
    """Per column over the pooled passes: feature, family, scope, psi, outside, score, level.

    `score` is the statistic that counts for the scope over its threshold (>= 1 significant).
    """
    stats = reference.drift(pooled(rows))
    frame = pd.DataFrame(
        {
            "feature": list(stats),
            "family": [FAMILY.get(name, "other") for name in stats],
            "scope": [scope_of(name) for name in stats],
            "psi": [s[0] for s in stats.values()],
            "outside": [s[1] for s in stats.values()],
        }
    )
    context = frame["scope"] == "context"
    frame["score"] = np.where(
        context, frame["outside"] / OUTSIDE_SIGNIFICANT, frame["psi"] / PSI_SIGNIFICANT
    )
    moderate = np.where(context, 0.5, PSI_MODERATE / PSI_SIGNIFICANT)
    frame["level"] = np.select(
        [frame["score"] >= 1, frame["score"] >= moderate], ["significant", "moderate"], "stable"
    )
    return frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)[
        COLUMNS
    ]


def family_drift(features: pd.DataFrame) -> pd.DataFrame:
    """Per family: its most-drifted feature that is not a clock feature."""
    watched = features[features["scope"] != "clock"].dropna(subset=["score"])
    if watched.empty:
        return pd.DataFrame(columns=["family", *(c for c in COLUMNS if c != "family")])
    top = watched.loc[watched.groupby("family", sort=True)["score"].idxmax()]
    return top[["family", *(c for c in COLUMNS if c != "family")]].reset_index(drop=True)


def drift_over_time(
    reference: Reference, rows: Sequence[PassCounts], freq: str, timezone: str = "UTC"
) -> pd.DataFrame:
    """Family drift per period of `freq` (e.g. "1D", "6h"; local periods in `timezone`)."""
    periods: dict[pd.Timestamp, list[PassCounts]] = defaultdict(list)
    for row in rows:
        periods[row[0].tz_convert(timezone).floor(freq)].append(row)
    parts = [
        family_drift(feature_drift(reference, group)).assign(period=start)
        for start, group in sorted(periods.items())
    ]
    columns = ["period", "family", "feature", "scope", "psi", "outside", "score", "level"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]
