"""Scans in (parcel, time) order by codes: what a stable sort of the texts gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contract.schema import TIMESTAMP_DTYPE
from features.snapshots import by_parcel_and_time, positions_in, texts_of
from serving.watch.frames import last_scans

pytestmark = pytest.mark.unit


def _random_scans(seed: int) -> pd.DataFrame:
    """Scans of a few look-alike ids, ties in time, missing ids and times, a shuffled index."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    ids = rng.choice(["KR1", "KR10", "KR2", "BR-7", "kr1", "KR1 "], n).astype(object)
    ids[rng.random(n) < 0.05] = None
    times = pd.Timestamp("2025-11-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 50, n), unit="h"
    )  # ties within a parcel are common
    events = pd.DataFrame(
        {
            "shipment_id": pd.array(ids, dtype="str"),
            "event_time": pd.Series(times).astype(TIMESTAMP_DTYPE),
            "event_type": pd.Categorical(rng.choice(["HUB_IN", "HUB_OUT", "DELIVERED"], n)),
            "row": np.arange(n),
        },
        index=rng.permutation(n) + 100,
    )
    events.loc[events.index[rng.random(n) < 0.05], "event_time"] = pd.NaT
    return events


@pytest.mark.parametrize("seed", range(4))
def test_order_equals_a_stable_sort_on_both_columns(seed: int) -> None:
    events = _random_scans(seed)
    want = events.sort_values(["shipment_id", "event_time"], kind="stable")
    got, parcel = by_parcel_and_time(events, ("row", "event_time"))
    assert list(got.columns) == ["row", "event_time"]
    assert got["row"].tolist() == want["row"].tolist()
    assert got.index.equals(want.index)
    # One code per parcel, ascending with the ids; -1 where the id is missing.
    ids = want["shipment_id"].to_numpy(dtype=object)
    known = pd.notna(ids)
    assert (parcel[~known] == -1).all() and (parcel[known] >= 0).all()
    assert pd.Series(parcel[known]).groupby(ids[known]).nunique().eq(1).all()
    assert np.array_equal(np.unique(parcel[known]), np.arange(len(set(ids[known]))))
    assert (np.diff(parcel[known]) >= 0).all()


@pytest.mark.parametrize("rows", [7, 500])  # a request's few scans, a pass's many
@pytest.mark.parametrize("categorical", [True, False])
def test_texts_and_positions_read_through_categories_as_through_text(
    categorical: bool, rows: int
) -> None:
    rng = np.random.default_rng(rows)
    values = rng.choice(["HUB_IN", "TERM-JEJU", "서울", "unseen", None], rows).astype(object)
    column = pd.Series(values, dtype="category" if categorical else "str")
    index = pd.Index(["서울", "HUB_IN", "TERM-JEJU", "elsewhere"])
    want = column.astype("str").to_numpy()
    got = texts_of(column)
    assert got.dtype == object
    assert [None if v != v else v for v in got] == [None if v != v else v for v in want]
    assert positions_in(column, index).tolist() == index.get_indexer(want).tolist()


@pytest.mark.parametrize("seed", range(4))
def test_last_scans_are_what_a_stable_time_sort_and_tail_give(seed: int) -> None:
    events = _random_scans(seed)
    ordered = events.sort_values("event_time", kind="stable")
    want = ordered.groupby("shipment_id", observed=True, sort=False).tail(1)
    want = want.set_index("shipment_id").sort_index()
    got = last_scans(events).sort_index()
    pd.testing.assert_frame_equal(got, want)
    assert last_scans(events.iloc[:0]).empty
