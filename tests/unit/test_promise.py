"""Promise rules: cut-off, business days (no Sunday, no public holiday), D+1 / D+2."""

import datetime as dt

import numpy as np
import pytest

from sources.synthetic.calendar import WorldCalendar
from sources.synthetic.config import DemandConfig, SimulationConfig
from sources.synthetic.journey import Conditions, JourneySimulator, Parcels
from sources.synthetic.network import Network

pytestmark = pytest.mark.unit

START = dt.date(2025, 9, 29)  # a Monday, a week before Chuseok 2025 (Oct 5-8)


@pytest.fixture(scope="module")
def cal() -> WorldCalendar:
    return WorldCalendar(START, 60, DemandConfig())


def _day(date: dt.date) -> int:
    return (date - START).days


def test_sundays_and_holidays_are_not_business_days(cal):
    assert not cal.is_business_day[_day(dt.date(2025, 10, 5))]  # Sunday and Chuseok eve
    assert not cal.is_business_day[_day(dt.date(2025, 10, 6))]  # Chuseok
    assert not cal.is_business_day[_day(dt.date(2025, 10, 3))]  # National Foundation Day
    assert cal.is_business_day[_day(dt.date(2025, 10, 4))]  # a plain Saturday
    assert cal.hub_closed[_day(dt.date(2025, 10, 6))]
    assert not cal.hub_closed[_day(dt.date(2025, 10, 3))]


def test_business_day_arithmetic_skips_closed_days(cal):
    thursday = np.array([_day(dt.date(2025, 10, 2))])
    assert cal.add_business_days(thursday, 1)[0] == _day(dt.date(2025, 10, 4))
    assert cal.add_business_days(thursday, 2)[0] == _day(dt.date(2025, 10, 10))
    assert cal.next_business_day(np.array([_day(dt.date(2025, 10, 5))]))[0] == _day(
        dt.date(2025, 10, 10)
    )


def test_pre_holiday_rush_raises_demand(cal):
    assert cal.peak_factor[_day(dt.date(2025, 10, 1))] > 1.5
    assert cal.peak_factor[_day(dt.date(2025, 10, 20))] == 1.0


def _promised(hour_of_creation: float, day: int, origin: str, dest: str, economy=False) -> int:
    net = Network()
    names = net.regions["region"].tolist()
    cfg = SimulationConfig(start=START, days=30)
    span = 60
    shape = (span, 30)
    sim = JourneySimulator(
        cfg,
        net,
        WorldCalendar(START, span, cfg.demand),
        Conditions(np.zeros(shape), np.zeros(shape, bool), np.zeros(shape), np.zeros(shape, bool)),
        np.random.default_rng(0),
    )
    parcels = Parcels(
        origin=np.array([names.index(origin)]),
        dest=np.array([names.index(dest)]),
        created_h=np.array([day * 24 + hour_of_creation]),
        slow_seller=np.array([False]),
        economy=np.array([economy]),
        defect=np.array(["NONE"]),
    )
    _, promised_day, promised_h = sim._promise(parcels)
    assert promised_h[0] == pytest.approx(promised_day[0] * 24 + 24, abs=1e-3)
    return int(promised_day[0])


def test_next_day_before_cutoff_and_one_more_after():
    assert _promised(10, 0, "Seoul", "Busan") == 1
    assert _promised(17, 0, "Seoul", "Busan") == 2


def test_remote_and_island_lanes_get_d_plus_2():
    assert _promised(10, 0, "Seoul", "Jeju") == 2
    assert _promised(10, 0, "Seoul", "Sokcho") == 2
    assert _promised(10, 0, "Busan", "Chuncheon") == 2  # two regional hubs via the mega-hub


def test_economy_adds_a_day_and_sunday_orders_ship_monday():
    assert _promised(10, 0, "Seoul", "Busan", economy=True) == 2
    sunday = _day(dt.date(2025, 10, 12))
    assert _promised(10, sunday, "Seoul", "Busan") == sunday + 2  # ships Monday, due Tuesday
