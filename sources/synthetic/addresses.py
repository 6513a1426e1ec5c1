"""Korean recipient addresses and phone numbers, with injected address and contact defects.

A clean address is a road-name address (도로명주소): province, city (for 도-level cities),
district, road, building number and a detail (apartment 동/호, floor, or none for houses), with
a 5-digit postcode inside its district's range. Each parcel gets at most one defect; the kind
is recorded so the simulator can fail delivery attempts on it and record the hidden cause.
Everything is vectorised: loops run over regions or defect kinds, never over parcels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contract.reference.korea import districts, road_names
from sources.synthetic.config import APARTMENT_SHARE, OFFICE_SHARE, AddressDefectRates

DEFECT_KINDS = (
    "NONE",
    "MISSING_UNIT",
    "POSTCODE_MISMATCH",
    "OLD_STYLE",
    "TYPO",
    "PHONE_MISSING",
    "PHONE_INVALID",
)
# Integers as strings, looked up by fancy indexing (far faster than formatting a million ints).
_NUMBERS = np.array([str(i) for i in range(10_000)], dtype=object)
_PADDED4 = np.array([f"{i:04d}" for i in range(10_000)], dtype=object)
_POSTCODES = np.array([f"{i:05d}" for i in range(100_000)], dtype=object)


@dataclass(frozen=True)
class AddressBatch:
    """Generated addresses, one entry per parcel.

    Attributes:
        address: Full address text (object array of str).
        postcode: 5-digit postcode, zero-padded (object array of str).
        phone: Recipient phone, None where missing.
        district_idx: Row of `districts()` of the true district.
        defect: One of `DEFECT_KINDS` (object array of str).
    """

    address: np.ndarray
    postcode: np.ndarray
    phone: np.ndarray
    district_idx: np.ndarray
    defect: np.ndarray


def _pick_districts(region_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A district of each parcel's region, weighted by population share."""
    table = districts()
    out = np.empty(len(region_idx), dtype=np.int64)
    for region, rows in table.groupby("region_idx").groups.items():
        sel = np.flatnonzero(region_idx == region)
        if len(sel) == 0:
            continue
        rows = np.asarray(rows)
        w = table.loc[rows, "weight"].to_numpy(dtype=float)
        out[sel] = rng.choice(rows, len(sel), p=w / w.sum())
    return out


def _postcodes_in(district: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    table = districts()
    lo = table["postcode_lo"].to_numpy()[district]
    hi = table["postcode_hi"].to_numpy()[district]
    return _POSTCODES[rng.integers(lo, hi + 1)]


def generate_postcodes(
    region_idx: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Valid postcodes (and their district rows) for senders in the given regions."""
    district = _pick_districts(region_idx, rng)
    return _postcodes_in(district, rng), district


def _area(district: np.ndarray) -> np.ndarray:
    """'경기도 성남시 분당구 ' style prefix (province, city, district) with a trailing space."""
    table = districts()
    province = table["province_ko"].to_numpy(dtype=object)
    city = table["city_ko"].to_numpy(dtype=object)
    name = table["district_ko"].to_numpy(dtype=object)
    parts = province + " "
    parts = parts + np.where(city != "", city + " ", "")
    # Sejong has no district level: the province is the city.
    parts = parts + np.where(name != province, name + " ", "")
    return parts[district]


def _phones(n: int, rng: np.random.Generator) -> np.ndarray:
    return (
        "010-" + _PADDED4[rng.integers(0, 10_000, n)] + "-" + _PADDED4[rng.integers(0, 10_000, n)]
    )


def _invalid_phones(n: int, rng: np.random.Generator) -> np.ndarray:
    """Malformed numbers as they arrive from shop forms."""
    valid = _phones(n, rng)
    kind = rng.integers(0, 4, n)
    short = np.array([p[:-3] for p in valid], dtype=object)
    wrong_prefix = np.array(["000" + p[3:] for p in valid], dtype=object)
    letters = np.array([p[:9] + "abcd" for p in valid], dtype=object)
    no_sep = np.array([p.replace("-", "")[:9] for p in valid], dtype=object)
    return np.choose(kind, [short, wrong_prefix, letters, no_sep])


def _misspell(roads: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Delete, double or swap one syllable so the road is no longer a known road."""
    known = road_names()
    out = []
    ops = rng.integers(0, 3, len(roads))
    positions = rng.random(len(roads))
    for road, op, pos in zip(roads, ops, positions, strict=True):
        stem, suffix = road[:-1], road[-1]
        i = int(pos * len(stem))
        if op == 0 and len(stem) > 1:
            bad = stem[:i] + stem[i + 1 :] + suffix
        elif op == 1 or len(stem) < 2:
            bad = stem[: i + 1] + stem[i] + stem[i + 1 :] + suffix
        else:
            j = min(i, len(stem) - 2)
            bad = stem[:j] + stem[j + 1] + stem[j] + stem[j + 2 :] + suffix
        out.append(bad if bad not in known else stem + "은" + suffix)
    return np.array(out, dtype=object)


def _draw_defects(
    n: int, apartment: np.ndarray, rates: AddressDefectRates, rng: np.random.Generator
) -> np.ndarray:
    """At most one defect per parcel; missing units only among apartments."""
    defect = np.full(n, "NONE", dtype=object)
    u = rng.random(n)
    unit_prob = rates.missing_unit / APARTMENT_SHARE
    defect[apartment & (u < unit_prob)] = "MISSING_UNIT"
    others = [
        ("POSTCODE_MISMATCH", rates.postcode_mismatch),
        ("OLD_STYLE", rates.old_style),
        ("TYPO", rates.typo),
        ("PHONE_MISSING", rates.phone_missing),
        ("PHONE_INVALID", rates.phone_invalid),
    ]
    # Rescale so each kind keeps its share of ALL parcels despite the missing-unit draws.
    free = defect == "NONE"
    scale = 1.0 / max(free.mean(), 1e-9)
    v = rng.random(n)
    edge = 0.0
    for kind, rate in others:
        hit = free & (v >= edge) & (v < edge + rate * scale)
        defect[hit] = kind
        edge += rate * scale
    return defect


def generate_addresses(
    region_idx: np.ndarray, rng: np.random.Generator, rates: AddressDefectRates
) -> AddressBatch:
    """Recipient addresses, postcodes and phones for parcels bound for `region_idx`.

    Args:
        region_idx: Row of `korea.regions()` of each parcel's destination.
        rng: Random generator; the same state gives the same batch.
        rates: Share of parcels with each defect.
    """
    n = len(region_idx)
    table = districts()
    district = _pick_districts(region_idx, rng)
    roads = np.array(sorted(road_names()), dtype=object)
    road = roads[rng.integers(0, len(roads), n)]
    branch = rng.random(n) < 0.3
    branch_suffix = np.where(branch, _NUMBERS[rng.integers(1, 80, n)] + "번길", "").astype(object)
    building = _NUMBERS[rng.integers(1, 400, n)]
    kind = rng.random(n)
    apartment = kind < APARTMENT_SHARE
    office = ~apartment & (kind < APARTMENT_SHARE + OFFICE_SHARE)
    unit = (
        " "
        + _NUMBERS[rng.integers(101, 120, n)]
        + "동 "
        + _NUMBERS[rng.integers(1, 25, n) * 100 + rng.integers(1, 5, n)]
        + "호"
    )
    floor = ", " + _NUMBERS[rng.integers(1, 15, n)] + "층"
    detail = np.where(apartment, unit, np.where(office, floor, "")).astype(object)

    defect = _draw_defects(n, apartment, rates, rng)
    area = _area(district)
    is_ = {k: defect == k for k in DEFECT_KINDS}
    # Misspell the road name itself; a branch number (12번길) stays as written.
    road[is_["TYPO"]] = _misspell(road[is_["TYPO"]], rng)
    road = road + branch_suffix
    detail[is_["MISSING_UNIT"]] = ""
    address = area + road + " " + building + detail

    old = np.flatnonzero(is_["OLD_STYLE"])
    dongs = table["dongs"].to_numpy()[district[old]]
    dong = np.array(
        [d[i % len(d)] for d, i in zip(dongs, rng.integers(0, 60, len(old)), strict=True)]
    )
    lot = _NUMBERS[rng.integers(1, 999, len(old))] + "-" + _NUMBERS[rng.integers(1, 60, len(old))]
    address[old] = area[old] + dong.astype(object) + " " + lot + detail[old]

    postcode = _postcodes_in(district, rng)
    mismatch = np.flatnonzero(is_["POSTCODE_MISMATCH"])
    other = (district[mismatch] + rng.integers(1, len(table), len(mismatch))) % len(table)
    postcode[mismatch] = _postcodes_in(other, rng)

    phone = _phones(n, rng)
    phone[is_["PHONE_MISSING"]] = None
    phone[is_["PHONE_INVALID"]] = _invalid_phones(int(is_["PHONE_INVALID"].sum()), rng)
    return AddressBatch(
        address=address,
        postcode=postcode,
        phone=phone,
        district_idx=district,
        defect=defect,
    )
