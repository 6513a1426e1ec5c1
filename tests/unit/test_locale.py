"""A locale survives the round trip through a Tables directory, and its peaks are the right days."""

import datetime as dt

import holidays

from contract.locale import NEUTRAL, Locale, PeakWindow, day_number
from contract.tables import Tables
from sources.olist import BRAZIL
from sources.synthetic.locale import korea


def _dates(window: PeakWindow, year: int, country: str | None) -> list[dt.date]:
    named = (
        dict(holidays.country_holidays(country, years=[year], language="en_US")) if country else {}
    )
    epoch = dt.date(1970, 1, 1)
    return sorted(epoch + dt.timedelta(days=n) for n in window.days(range(year, year + 1), named))


def test_locales_round_trip_through_a_tables_directory(tmp_path):
    for locale in (korea(), BRAZIL, NEUTRAL):
        assert Locale.from_dict(locale.to_dict()) == locale
        Tables.empty(locale).write(tmp_path / locale.name)
        assert Tables.read(tmp_path / locale.name).locale == locale


def test_a_directory_without_a_locale_reads_as_neutral(tmp_path):
    Tables.empty(korea()).write(tmp_path)
    (tmp_path / "locale.json").unlink()
    assert Tables.read(tmp_path).locale == NEUTRAL


def test_black_friday_week_is_the_fourth_friday_of_november_give_or_take_three_days():
    black_friday = BRAZIL.peaks[0]
    days = _dates(black_friday, 2017, "BR")
    assert days[0] == dt.date(2017, 11, 21) and days[-1] == dt.date(2017, 11, 27)
    assert _dates(black_friday, 2018, "BR")[3] == dt.date(2018, 11, 23)  # a Friday


def test_chuseok_rush_runs_twelve_days_before_to_a_week_after():
    family = korea().peaks[0]
    days = set(_dates(family, 2025, "KR"))
    # Chuseok 2025: October 5-7 and the alternative holiday on the 8th, all named "Chuseok".
    assert dt.date(2025, 9, 23) in days and dt.date(2025, 9, 22) not in days
    assert dt.date(2025, 10, 15) in days and dt.date(2025, 10, 16) not in days
    assert dt.date(2025, 1, 16) in days  # the Korean New Year rush, 12 days before the 28th


def test_fixed_span_windows_cover_their_dates_every_year():
    singles_day = korea().peaks[1]
    span = PeakWindow(month=11, first_day=9, last_day=13)
    assert singles_day == span
    numbers = span.days(range(2024, 2026), {})
    assert numbers == {day_number(dt.date(y, 11, d)) for y in (2024, 2025) for d in range(9, 14)}
