"""The simulated network's locale: Korean time, holidays and peak seasons, far regions."""

from __future__ import annotations

from functools import cache

from contract.locale import Locale, PeakWindow
from contract.reference.korea import regions

# The family holidays move more parcels than any other time of the year: gifts go out in the
# 12 days before, and the backlog clears in the week after. The November sales (Singles' Day
# around the 11th, Black Friday week) are the other peaks.
FAMILY_HOLIDAYS = ("Chuseok", "Korean New Year")
PRE_HOLIDAY_DAYS, POST_HOLIDAY_DAYS = 12, 7


@cache
def korea() -> Locale:
    """Asia/Seoul (UTC+9, no daylight saving), Korean public holidays and peak seasons."""
    table = regions()
    return Locale(
        name="kr",
        timezone="Asia/Seoul",
        utc_offset_h=9.0,
        holiday_country="KR",
        peaks=(
            PeakWindow(holidays=FAMILY_HOLIDAYS, before=PRE_HOLIDAY_DAYS, after=POST_HOLIDAY_DAYS),
            PeakWindow(month=11, first_day=9, last_day=13),
            PeakWindow(month=11, first_day=24, last_day=30),
        ),
        remote_regions=tuple(table.loc[table["remote"], "region"]),
        island_regions=tuple(table.loc[table["island"], "region"]),
    )
