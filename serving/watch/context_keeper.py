"""The context of the last pass, and how much of it the next pass may keep.

A daily series is read at the start of the pass's UTC day and made of what happened before
it; the hub load at the last full hour. A pass later in the same day whose data changed only
after the day began (no late scan, no edited parcel from before) would rebuild the same
series: it keeps them, and rebuilds the hub load unless the hour is the same too. The mirror
says how far back the changes since the last pass reach (`StoreMirror.earliest_change`).
On a 100k-in-flight store the series are most of a context's cost (docs/benchmarks.md).
"""

from __future__ import annotations

import pandas as pd

from contract.tables import Tables
from features.context import Context, build_context, refresh_context


class ContextKeeper:
    """Builds each pass's context, keeping what the last one built where it still holds."""

    def __init__(self) -> None:
        self._last: Context | None = None
        self._changed_from: pd.Timestamp | None = None  # since the last context built
        self.kept: tuple[str, ...] = ()  # what the latest `context` call kept (for the log)

    def changed(self, earliest: pd.Timestamp | None) -> None:
        """Note that the data changed at `earliest` and later (None: it did not).

        Kept until a context is built: a pass that fails, or finds nothing in flight, does
        not lose the changes it read.
        """
        if earliest is not None and (self._changed_from is None or earliest < self._changed_from):
            self._changed_from = earliest

    def context(self, tables: Tables, as_of: pd.Timestamp) -> Context:
        """The context of `tables` as of `as_of`, given the changes noted since the last one.

        Args:
            tables: What the pass read.
            as_of: The pass's time (UTC).
        """
        last, changed_from = self._last, self._changed_from
        prior = None if last is None else last.as_of
        if last is None or prior is None or as_of < prior:
            built = build_context(tables, as_of)
            self.kept = ()
        else:
            day, hour = as_of.floor("D"), as_of.floor("h")

            def settled_since(start: pd.Timestamp) -> bool:
                return changed_from is None or changed_from >= start

            same_day = prior.floor("D") == day and settled_since(day)
            same_hour = prior.floor("h") == hour and settled_since(hour)
            built = refresh_context(
                last, tables, as_of, series=not same_day, hub_load=not same_hour
            )
            self.kept = tuple(n for n, k in (("series", same_day), ("hub load", same_hour)) if k)
        self._last, self._changed_from = built, None
        return built
