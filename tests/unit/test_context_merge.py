"""The context of all shipments is the merge of the contexts of any split of them."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pandas as pd
import pytest

from features.context import (
    Bounds,
    DailySeries,
    HubLoad,
    Span,
    build_context,
    merge_contexts,
)
from scale.partitions import split

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("parts", [2, 7])
@pytest.mark.parametrize("as_of", [None, "2025-08-10T05:30:00Z"])
def test_merged_partition_contexts_equal_the_whole(small_data, parts, as_of) -> None:
    tables = small_data.tables
    when = None if as_of is None else pd.Timestamp(as_of)
    pieces = split(tables, parts)
    bounds = reduce(Bounds.combine, [Bounds.known_at(p, when) for p in pieces])
    span = Span.of(bounds, when)
    merged = merge_contexts([build_context(p, when, span) for p in pieces])
    whole = build_context(tables, when)
    assert merged.hub_load.first_hour == whole.hub_load.first_hour
    for name, values in whole.hub_load.cum.items():
        np.testing.assert_allclose(merged.hub_load.cum[name], values, atol=1e-6)
    for name, series in whole.series.items():
        assert list(merged.series[name].keys) == list(series.keys), name
        for k, values in series.sums.items():
            np.testing.assert_allclose(merged.series[name].sums[k], values, rtol=1e-6, atol=1e-2)


def test_bounds_of_nothing_combine_to_the_other() -> None:
    empty = Bounds(None, None, None, None)
    some = Bounds(1, 5, 2, 4)
    assert empty.combine(some) == some == some.combine(empty)
    assert Span.of(empty, None) == Span((0, 1), None)
    assert pd.isna(empty.time(None))


def test_contexts_over_other_times_refuse_to_merge(small_data) -> None:
    a = build_context(small_data.tables, pd.Timestamp("2025-08-01T00:00Z"))
    b = build_context(small_data.tables, pd.Timestamp("2025-08-10T00:00Z"))
    with pytest.raises(ValueError, match="different times"):
        merge_contexts([a, b])
    with pytest.raises(ValueError, match="different days"):
        DailySeries.merge([a.series["lane"], b.series["lane"]])
    with pytest.raises(ValueError, match="different hours"):
        HubLoad.merge([a.hub_load, b.hub_load])
