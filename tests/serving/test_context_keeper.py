"""Which parts of the last pass's context the next pass keeps."""

from __future__ import annotations

import pandas as pd
import pytest

from serving.watch.context_keeper import ContextKeeper

pytestmark = pytest.mark.serving


def test_a_pass_keeps_what_no_change_touched(small_data) -> None:
    tables, keeper = small_data.tables, ContextKeeper()
    t = pd.Timestamp("2025-08-10T09:05Z")
    steps = [
        (t, None, ()),  # the first pass builds it all
        (t + pd.Timedelta(minutes=30), None, ("series", "hub load")),
        (t + pd.Timedelta(minutes=40), t + pd.Timedelta(minutes=35), ("series", "hub load")),
        (t + pd.Timedelta(minutes=45), t + pd.Timedelta(minutes=-10), ("series",)),  # 08:55
        (t + pd.Timedelta(hours=1), None, ("series",)),  # a new hour
        (t + pd.Timedelta(hours=2), t - pd.Timedelta(days=2), ()),  # a late scan
        (t + pd.Timedelta(hours=15), None, ()),  # a new UTC day
        (t + pd.Timedelta(hours=1), None, ()),  # back in time: built afresh
    ]
    for when, changed_from, kept in steps:
        keeper.changed(changed_from)
        context = keeper.context(tables, when)
        assert keeper.kept == kept, when
        assert context.as_of == when


def test_changes_noted_before_a_failed_build_still_count(small_data, monkeypatch) -> None:
    """A pass that fails (or finds nothing in flight) does not lose the changes it read."""
    import serving.watch.context_keeper as keeping

    tables, keeper = small_data.tables, ContextKeeper()
    t = pd.Timestamp("2025-08-10T09:05Z")
    keeper.context(tables, t)
    keeper.changed(t - pd.Timedelta(days=2))  # a late scan

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    with monkeypatch.context() as patch:
        patch.setattr(keeping, "refresh_context", broken)
        with pytest.raises(RuntimeError):
            keeper.context(tables, t + pd.Timedelta(minutes=5))
    keeper.changed(None)  # the next pass read nothing new
    keeper.context(tables, t + pd.Timedelta(minutes=10))
    assert keeper.kept == ()
    keeper.context(tables, t + pd.Timedelta(minutes=15))
    assert keeper.kept == ("series", "hub load")
