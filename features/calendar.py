"""Calendar family: weekday and hour, holidays, peak periods, the promise's lead time.

Holidays and peak seasons come from the data's locale (contract/locale.py): its country's
public holidays (the `holidays` package) and the peak windows its source declared. Everything
here is known at `as_of` (calendars are public in advance).
"""

from __future__ import annotations

from functools import cache

import holidays
import numpy as np

from contract.locale import Locale, day_number
from contract.tables import Tables
from features.family import STATIC, Family, feature
from features.series import Context
from features.snapshots import Columns, Snapshots

NAME = "calendar"


@cache
def _calendar(locale: Locale, first_year: int, last_year: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted holiday day numbers, sorted peak-season day numbers) of a locale."""
    years = range(first_year, last_year + 1)
    if locale.holiday_country is None:
        named: dict = {}
    else:
        named = dict(
            holidays.country_holidays(locale.holiday_country, years=years, language="en_US")
        )
    days = np.array(sorted(day_number(d) for d in named), dtype=np.int64)
    peak: set[int] = set()
    for window in locale.peaks:
        peak |= window.days(years, named)
    return days, np.array(sorted(peak), dtype=np.int64)


def calendar_features(snap: Snapshots) -> Columns:
    """Calendar columns for every snapshot."""
    off = snap.local_offset_h
    local_s = snap.as_of_s + off * 3600
    day = np.floor(local_s / 86400).astype(np.int64)
    created_s = snap.created_s
    promised_s = snap.promised_s
    promised_day = np.floor((promised_s + off * 3600) / 86400).astype(np.int64)
    n = len(day)
    out: Columns = {
        "cal_weekday": ((day + 3) % 7).astype(float),  # 1970-01-01 was a Thursday
        "cal_hour": np.floor(local_s % 86400 / 3600),
        "cal_created_hour": np.floor((created_s + off * 3600) % 86400 / 3600),
        "cal_promised_weekday": ((promised_day + 3) % 7).astype(float),
        "cal_promise_lead_h": (promised_s - created_s) / 3600,
        **{
            name: np.full(n, np.nan)
            for name in (
                "cal_is_holiday",
                "cal_days_to_holiday",
                "cal_holidays_before_promise",
                "cal_peak_season",
            )
        },
    }
    if n == 0:
        return out
    years = day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    hol, peak = _calendar(snap.locale, int(years.min()) - 1, int(years.max()) + 1)
    nxt = np.searchsorted(hol, day, side="left")
    if len(hol):
        out["cal_is_holiday"] = np.isin(day, hol).astype(float)
        out["cal_days_to_holiday"] = (hol[np.minimum(nxt, len(hol) - 1)] - day).astype(float)
        out["cal_holidays_before_promise"] = np.maximum(
            np.searchsorted(hol, promised_day, side="right") - nxt, 0
        ).astype(float)
    if snap.locale.peaks:
        out["cal_peak_season"] = np.isin(day, peak).astype(float)
    return out


def _compute(snap: Snapshots, tables: Tables, context: Context, done: Columns) -> Columns:
    return calendar_features(snap)


FEATURES = (
    feature("cal_weekday", NAME, "Local weekday of as_of (0 Monday).", STATIC),
    feature("cal_hour", NAME, "Local hour of as_of.", STATIC),
    feature(
        "cal_created_hour", NAME, "Local hour the parcel was created (vs pickup cut-off).", STATIC
    ),
    feature("cal_promised_weekday", NAME, "Local weekday of the promised day.", STATIC),
    feature("cal_promise_lead_h", NAME, "Hours from creation to the promise.", STATIC),
    feature("cal_is_holiday", NAME, "as_of falls on a public holiday.", STATIC),
    feature("cal_days_to_holiday", NAME, "Days from as_of to the next public holiday.", STATIC),
    feature(
        "cal_holidays_before_promise",
        NAME,
        "Public holidays between as_of and the promise.",
        STATIC,
    ),
    feature("cal_peak_season", NAME, "Peak period (pre-holiday rush, shopping events).", STATIC),
)

FAMILY = Family(NAME, "PEAK_SEASON", FEATURES, _compute)
