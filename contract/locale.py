"""Where the data lives: its local time, its public holidays, its peak seasons, its far regions.

A source declares its locale (sources/); the tables carry it (a Tables directory holds it as
`locale.json`) and so does every context built from them, so feature code reads local days,
holidays and peak seasons from the data's own locale instead of knowing any country.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

# Epoch day numbers: what feature code compares days in.
_EPOCH = dt.date(1970, 1, 1)


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - _EPOCH).days


@dataclass(frozen=True)
class PeakWindow:
    """A recurring peak season, in one of three shapes.

    - around named public holidays: `holidays` (parts of the names the `holidays` package
      gives in English, e.g. "Chuseok"), from `before` days before to `after` days after;
    - a fixed span of dates: `month`, `first_day` .. `last_day`;
    - around the n-th weekday of a month: `month`, `weekday` (0 Monday), `nth`, with
      `before` / `after` days around it (Black Friday: November, 4, 4, 3, 3).
    """

    holidays: tuple[str, ...] = ()
    month: int | None = None
    first_day: int | None = None
    last_day: int | None = None
    weekday: int | None = None
    nth: int | None = None
    before: int = 0
    after: int = 0

    def days(self, years: range, holidays: dict[dt.date, str]) -> set[int]:
        """Day numbers of the window in `years`, given the country's holidays (date -> name)."""
        centres: list[dt.date] = []
        if self.holidays:
            centres = [d for d, name in holidays.items() if any(h in name for h in self.holidays)]
        elif self.month is not None and self.weekday is not None and self.nth is not None:
            for year in years:
                first = dt.date(year, self.month, 1)
                offset = (self.weekday - first.weekday()) % 7 + 7 * (self.nth - 1)
                centres.append(first + dt.timedelta(days=offset))
        elif self.month is not None and self.first_day is not None and self.last_day is not None:
            return {
                day_number(dt.date(year, self.month, d))
                for year in years
                for d in range(self.first_day, self.last_day + 1)
            }
        return {
            day_number(centre) + k
            for centre in centres
            for k in range(-self.before, self.after + 1)
        }


@dataclass(frozen=True)
class Locale:
    """A data set's locale.

    Attributes:
        name: Short name (e.g. "kr", "br").
        timezone: IANA time zone, for showing times.
        utc_offset_h: Hours added to UTC for the local time features use (one offset for the
            whole data set; daylight saving is not followed).
        holiday_country: ISO country code of the public holidays (`holidays` package); None:
            no holidays.
        peaks: Peak seasons.
        remote_regions: Regions whose deliveries go far from the network (mountains, coast).
        island_regions: Regions reached by a ferry or air leg.
    """

    name: str
    timezone: str
    utc_offset_h: float
    holiday_country: str | None = None
    peaks: tuple[PeakWindow, ...] = ()
    remote_regions: tuple[str, ...] = ()
    island_regions: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (read back by `from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Locale:
        """The locale `to_dict` wrote."""
        peaks = tuple(_peak(p) for p in raw.get("peaks", ()))
        return cls(
            name=raw["name"],
            timezone=raw["timezone"],
            utc_offset_h=float(raw["utc_offset_h"]),
            holiday_country=raw.get("holiday_country"),
            peaks=peaks,
            remote_regions=tuple(raw.get("remote_regions", ())),
            island_regions=tuple(raw.get("island_regions", ())),
        )


def _peak(raw: dict[str, Any]) -> PeakWindow:
    fields = dict(raw)
    fields["holidays"] = tuple(fields.get("holidays", ()))
    return PeakWindow(**fields)


# Data with no locale of its own: UTC, no holidays, no peak seasons.
NEUTRAL = Locale("utc", "UTC", 0.0)
