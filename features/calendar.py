"""Calendar family: weekday and hour, holidays, peak periods, the promise's lead time.

Uses the `holidays` package's Korean and Brazilian calendars (chosen by the destination's
time zone). Everything here is known at `as_of` (calendars are public in advance).
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import holidays
import numpy as np

from features.snapshots import Columns, Snapshots

_EPOCH = dt.date(1970, 1, 1)
_KR_FAMILY = ("Chuseok", "Korean New Year")
PRE_HOLIDAY_DAYS, POST_HOLIDAY_DAYS = 12, 7


def _day_number(d: dt.date) -> int:
    return (d - _EPOCH).days


@cache
def _calendar(country: str, first_year: int, last_year: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted holiday day numbers, sorted peak-season day numbers) of a country."""
    years = range(first_year, last_year + 1)
    cal = holidays.country_holidays(country, years=years, language="en_US")
    days = np.array(sorted(_day_number(d) for d in cal), dtype=np.int64)
    peak: set[int] = set()
    if country == "KR":
        family = sorted(d for d, name in cal.items() if any(k in name for k in _KR_FAMILY))
        for d in family:
            base = _day_number(d)
            peak.update(range(base - PRE_HOLIDAY_DAYS, base + POST_HOLIDAY_DAYS + 1))
        for y in years:
            peak.update(_day_number(dt.date(y, 11, k)) for k in (*range(9, 14), *range(24, 31)))
    elif country == "BR":
        for y in years:
            nov1 = dt.date(y, 11, 1)
            black_friday = nov1 + dt.timedelta(days=(4 - nov1.weekday()) % 7 + 21)
            base = _day_number(black_friday)
            peak.update(range(base - 3, base + 4))
            peak.update(_day_number(dt.date(y, 12, k)) for k in range(1, 25))
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
    lo, hi = int(years.min()) - 1, int(years.max()) + 1
    for country, offset in (("KR", 9.0), ("BR", -3.0)):
        rows = np.flatnonzero(off == offset)
        if len(rows) == 0:
            continue
        hol, peak = _calendar(country, lo, hi)
        d, p = day[rows], promised_day[rows]
        nxt = np.searchsorted(hol, d, side="left")
        out["cal_is_holiday"][rows] = np.isin(d, hol)
        out["cal_days_to_holiday"][rows] = hol[np.minimum(nxt, len(hol) - 1)] - d
        out["cal_holidays_before_promise"][rows] = np.maximum(
            np.searchsorted(hol, p, side="right") - nxt, 0
        )
        out["cal_peak_season"][rows] = np.isin(d, peak)
    return out
