"""A context refreshed from an earlier one gives the features a fresh one gives, when it may."""

from __future__ import annotations

import pandas as pd
import pytest

from contract.schema import TIMESTAMP_DTYPE
from features.build import build_features
from features.context import build_context, refresh_context
from training.scoring import in_flight

pytestmark = pytest.mark.unit


def features_at(tables, when, context) -> pd.DataFrame:
    flying = in_flight(tables, when)
    snapshots = pd.DataFrame({"shipment_id": flying["shipment_id"].to_numpy(), "as_of": when})
    return build_features(tables, snapshots.astype({"as_of": TIMESTAMP_DTYPE}), context)


@pytest.mark.parametrize(
    ("earlier", "later", "rebuild_hub_load"),
    [
        ("2025-08-10T01:10Z", "2025-08-10T09:40Z", True),  # same UTC day: series kept
        ("2025-08-10T09:05Z", "2025-08-10T09:50Z", False),  # same hour: hub load kept too
    ],
)
def test_kept_parts_give_the_features_of_a_fresh_context(
    small_data, earlier, later, rebuild_hub_load
) -> None:
    tables = small_data.tables  # the data between the two times happened after the day began
    when = pd.Timestamp(later)
    previous = build_context(tables, pd.Timestamp(earlier))
    kept = refresh_context(previous, tables, when, series=False, hub_load=rebuild_hub_load)
    assert kept.series is previous.series
    assert (kept.hub_load is previous.hub_load) is not rebuild_hub_load
    fresh = build_context(tables, when)
    pd.testing.assert_frame_equal(
        features_at(tables, when, kept), features_at(tables, when, fresh), rtol=1e-9
    )


def test_series_of_another_day_would_give_other_features(small_data) -> None:
    """The check above can fail: yesterday's series are not today's."""
    tables = small_data.tables
    when = pd.Timestamp("2025-08-10T09:40Z")
    previous = build_context(tables, pd.Timestamp("2025-08-09T20:00Z"))
    stale = refresh_context(previous, tables, when, series=False, hub_load=True)
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(
            features_at(tables, when, stale),
            features_at(tables, when, build_context(tables, when)),
            rtol=1e-9,
        )
