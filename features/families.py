"""The registry of feature families, in the order they compute (later ones read earlier ones).

`build_features`, the catalog and the context all follow this tuple: adding a family is one
module with a `FAMILY` and one line here (docs/architecture.md has a worked example).
"""

from __future__ import annotations

from features import address, calendar, history, hub_load, order, progress, route, weather
from features.family import Family

REGISTERED: tuple[Family, ...] = (
    route.FAMILY,
    progress.FAMILY,
    hub_load.FAMILY,
    weather.FAMILY,
    address.FAMILY,
    calendar.FAMILY,
    history.FAMILY,
    order.FAMILY,
)
