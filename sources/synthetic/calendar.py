"""Days of the simulated world: business days, holiday closures, demand and promises.

Days are indexed from the world's first local day (0). Couriers pick up and deliver Monday to
Saturday except Korean public holidays (the `holidays` package's calendar); hubs sort every
night except the Seollal and Chuseok holidays, when they close.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import holidays
import numpy as np

from sources.synthetic.config import DemandConfig

_FAMILY_HOLIDAYS = ("Chuseok", "Korean New Year")


@dataclass(frozen=True)
class WorldCalendar:
    """Calendar facts for `span` days from `start` (the world plus a run-out buffer)."""

    start: dt.date
    span: int
    demand: DemandConfig

    @cached_property
    def dates(self) -> list[dt.date]:
        """Local date of every day index."""
        return [self.start + dt.timedelta(days=i) for i in range(self.span)]

    @cached_property
    def _holidays(self) -> holidays.HolidayBase:
        years = range(self.start.year - 1, self.dates[-1].year + 2)
        return holidays.country_holidays("KR", years=years, language="en_US")

    @cached_property
    def is_holiday(self) -> np.ndarray:
        """Public holiday flag per day."""
        return np.array([d in self._holidays for d in self.dates])

    @cached_property
    def family_holidays(self) -> list[dt.date]:
        """Seollal and Chuseok days in and around the world (for peaks and closures)."""
        lo, hi = self.start - dt.timedelta(days=1), self.dates[-1] + dt.timedelta(days=60)
        return sorted(
            d
            for d, name in self._holidays.items()
            if lo <= d <= hi and any(k in name for k in _FAMILY_HOLIDAYS)
        )

    @cached_property
    def hub_closed(self) -> np.ndarray:
        """Hubs do not sort on Seollal and Chuseok."""
        closed = set(self.family_holidays)
        return np.array([d in closed for d in self.dates])

    @cached_property
    def is_business_day(self) -> np.ndarray:
        """Pickup and delivery days: Monday to Saturday, not a public holiday."""
        weekday = np.array([d.weekday() for d in self.dates])
        return (weekday != 6) & ~self.is_holiday

    @cached_property
    def _business_ordinal(self) -> np.ndarray:
        """Count of business days up to and including each day."""
        return np.cumsum(self.is_business_day)

    @cached_property
    def _business_days(self) -> np.ndarray:
        return np.flatnonzero(self.is_business_day)

    def next_business_day(self, day: np.ndarray) -> np.ndarray:
        """The first business day on or after `day` (clipped to the span's last day)."""
        day = np.clip(day, 0, self.span - 1)
        idx = np.searchsorted(self._business_days, day, side="left")
        idx = np.minimum(idx, len(self._business_days) - 1)
        return self._business_days[idx]

    def add_business_days(self, day: np.ndarray, n: np.ndarray | int) -> np.ndarray:
        """The business day `n` business days after business day `day`."""
        idx = np.searchsorted(self._business_days, day, side="left") + n
        idx = np.minimum(idx, len(self._business_days) - 1)
        return self._business_days[idx]

    @cached_property
    def peak_factor(self) -> np.ndarray:
        """Demand multiplier per day from the pre-holiday gift rush and November events."""
        factor = np.ones(self.span)
        first_days = [
            d
            for i, d in enumerate(self.family_holidays)
            if i == 0 or (d - self.family_holidays[i - 1]).days > 1
        ]
        for first in first_days:
            for k in range(1, self.demand.pre_holiday_days + 1):
                i = (first - dt.timedelta(days=k) - self.start).days
                if 0 <= i < self.span:
                    factor[i] = self.demand.pre_holiday_peak
        factor[self.hub_closed] = self.demand.family_holiday_demand
        for i, d in enumerate(self.dates):
            if d.month == 11 and any(
                lo <= d.day <= hi for lo, hi in self.demand.november_peak_days
            ):
                factor[i] = max(factor[i], self.demand.november_peak)
        return factor

    @cached_property
    def is_peak(self) -> np.ndarray:
        """Days with a peak demand multiplier."""
        return self.peak_factor > 1.0

    def peak_season(self, days_after_closure: int) -> np.ndarray:
        """Rush days, the holiday closures, and the days after them when the queue clears."""
        return self.is_peak | self.hub_closed | self.after_closure(days_after_closure)

    def after_closure(self, days: int) -> np.ndarray:
        """The `days` days that follow each hub closure (when the queue it left is cleared)."""
        closed = self.hub_closed
        out = np.zeros(self.span, dtype=bool)
        for end in np.flatnonzero(closed[:-1] & ~closed[1:]):
            out[end + 1 : end + 1 + days] = True
        return out

    def demand_weights(self, days: int) -> np.ndarray:
        """Relative order volume of each of the first `days` days."""
        weekday = np.array([d.weekday() for d in self.dates[:days]])
        w = np.asarray(self.demand.weekday_factors)[weekday] * self.peak_factor[:days]
        return w / w.sum()
