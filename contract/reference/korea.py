"""Reference geography of South Korea: regions, districts, postcodes and road names.

The 30 region names and coordinates are those of the daily weather file in
`shared/data/weather_kr/`, so simulated parcels, weather and features join on `region`.
District postcode ranges follow the national 5-digit postcode system (first two digits name
the province). This module is pure reference data and lookups: the simulator builds addresses
from it and the address-quality features check addresses against it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

METROPOLITAN_SUFFIXES = ("특별시", "광역시", "특별자치시")


def _read(name: str) -> pd.DataFrame:
    with resources.files(__package__).joinpath(name).open("rb") as fh:
        return pd.read_csv(fh)


@cache
def regions() -> pd.DataFrame:
    """The 30 regions: English name, Korean names, coordinates, population, island/remote flags.

    Returns:
        One row per region, sorted by `region`, indexed 0..29 (the simulator's region index).
    """
    return _read("kr_regions.csv").sort_values("region", ignore_index=True)


@cache
def districts() -> pd.DataFrame:
    """Districts (시/군/구) of every region with their postcode range, legal dongs and weight.

    Returns:
        One row per district sorted by `postcode_lo`, with `region_idx` (row of `regions()`),
        `province_ko`, `city_ko` (the city name written in addresses of 도-level cities, empty
        for metropolitan cities) and `dongs` as a tuple.
    """
    table = _read("kr_districts.csv").sort_values("postcode_lo", ignore_index=True)
    reg = regions().reset_index(names="region_idx").set_index("region")
    table["region_idx"] = reg.loc[table["region"], "region_idx"].to_numpy()
    table["province_ko"] = reg.loc[table["region"], "province_ko"].to_numpy()
    metropolitan = table["province_ko"].str.endswith(METROPOLITAN_SUFFIXES)
    city = reg.loc[table["region"], "name_ko"].to_numpy()
    # A city without 구 (e.g. 속초시) is itself the district: write it once.
    table["city_ko"] = np.where(metropolitan | (city == table["district_ko"]), "", city)
    table["dongs"] = table["dongs"].str.split(";").map(tuple)
    return table


@cache
def road_names() -> frozenset[str]:
    """Known road-name stems (e.g. 중앙로, 테헤란로, 소나무길)."""
    return frozenset(_read("kr_roads.csv")["road"])


def district_of_postcode(postcodes: pd.Series | np.ndarray | list[str]) -> np.ndarray:
    """Row of `districts()` whose postcode range holds each postcode; -1 if none or malformed.

    Only exactly five digits count as a postcode ("3000", "030000" or "3e4" do not).
    """
    table = districts()
    codes = np.array(
        [
            int(p) if isinstance(p, str) and len(p) == 5 and p.isascii() and p.isdigit() else -1
            for p in (postcodes.tolist() if hasattr(postcodes, "tolist") else postcodes)
        ],
        dtype=np.int64,
    )
    lo = table["postcode_lo"].to_numpy()
    hi = table["postcode_hi"].to_numpy()
    idx = np.searchsorted(lo, codes, side="right") - 1
    inside = (codes >= 0) & (idx >= 0) & (codes <= hi[np.maximum(idx, 0)])
    return np.where(inside, idx, -1)
