"""Address-quality family: is the address complete, consistent and deliverable?

Address and contact defects (a missing 동/호 unit, a postcode of another district, an old
lot-number address, a misspelt road, a missing or malformed phone) are the main cause of
failed delivery attempts. This module parses the Korean address into its components and
scores them against the reference gazetteer (`features.reference.korea`).

The raw address and phone never leave this module: only scores and flags come out, and
nothing here logs. Sources without addresses (e.g. Olist) give NaN, not zero.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.reference.korea import district_of_postcode, districts, road_names
from features.snapshots import Columns

ADDRESS_FEATURES: tuple[str, ...] = (
    "addr_parse_ok",
    "addr_completeness",
    "addr_has_unit",
    "addr_old_style",
    "addr_road_unknown",
    "addr_postcode_district_match",
    "addr_phone_missing",
    "addr_phone_valid",
)

# province, then optional city (시) and district (구/군), then a road + building number or a
# legal dong + lot number (old style), then whatever detail follows.
_ADDRESS = (
    r"^(?P<province>\S+(?:특별시|광역시|특별자치시|특별자치도|도))"
    r"(?:\s+(?P<city>\S+시))?"
    r"(?:\s+(?P<district>\S+(?:구|군)))?"
    r"\s+(?:(?P<road>\S+(?:로|길))\s+(?P<building>\d+(?:-\d+)?)"
    r"|(?P<dong>\S+(?:동|읍|면|리|가))\s+(?P<lot>\d+(?:-\d+)?))"
    r"(?P<detail>.*)$"
)
_UNIT = r"\d+\s*동\s*\d+\s*호|\d+\s*호|\d+\s*층"
_BRANCH = r"\d+번길$"
_PHONE = r"(?:01[016789]-?\d{3,4}-?\d{4}|02-?\d{3,4}-?\d{4}|0[3-6]\d-?\d{3,4}-?\d{4})"


_ADDRESS_RE = re.compile(_ADDRESS)
_UNIT_RE = re.compile(_UNIT)
_BRANCH_RE = re.compile(_BRANCH)
_PHONE_RE = re.compile(_PHONE)
_GROUPS = ("province", "city", "district", "road", "building", "dong", "lot", "detail")


def _parse(address: object) -> tuple[str | None, ...]:
    if not isinstance(address, str):
        return (None,) * len(_GROUPS)
    match = _ADDRESS_RE.match(address.strip())
    return match.group(*_GROUPS) if match else (None,) * len(_GROUPS)


def address_columns(address: np.ndarray, postcode: np.ndarray, phone: np.ndarray) -> Columns:
    """Address-quality columns for parallel arrays of address, postcode and phone texts."""
    n = len(address)
    present = np.array([isinstance(a, str) and a.strip() != "" for a in address], dtype=bool)
    rows = [_parse(a) for a in address]
    parts: dict[str, tuple[str | None, ...]] = {
        g: tuple(r[k] for r in rows) for k, g in enumerate(_GROUPS)
    }
    has = {g: np.array([v is not None for v in parts[g]], dtype=bool) for g in _GROUPS}
    parsed = has["province"]
    sejong = np.array([(v or "").endswith("특별자치시") for v in parts["province"]], dtype=bool)
    area = has["city"] | has["district"] | sejong
    unit = np.array([_UNIT_RE.search(d or "") is not None for d in parts["detail"]], dtype=bool)
    components = [parsed, area, has["road"] | has["dong"], has["building"] | has["lot"], unit]
    completeness = np.sum(np.stack(components).astype(float), axis=0) / len(components)
    known_roads = road_names()
    road_unknown = np.array(
        [r is not None and _BRANCH_RE.sub("", r) not in known_roads for r in parts["road"]],
        dtype=bool,
    )
    phone_missing = np.array([not (isinstance(p, str) and p.strip()) for p in phone], dtype=bool)
    phone_valid = np.array(
        [isinstance(p, str) and _PHONE_RE.fullmatch(p.strip()) is not None for p in phone],
        dtype=bool,
    )
    nan = np.full(n, np.nan)
    return {
        "addr_parse_ok": np.where(present, parsed.astype(float), nan),
        "addr_completeness": np.where(present, completeness, nan),
        "addr_has_unit": np.where(present, unit.astype(float), nan),
        "addr_old_style": np.where(parsed, (has["dong"] & ~has["road"]).astype(float), nan),
        "addr_road_unknown": np.where(parsed & has["road"], road_unknown.astype(float), nan),
        "addr_postcode_district_match": _postcode_match(parts, postcode, parsed),
        "addr_phone_missing": phone_missing.astype(float),
        "addr_phone_valid": np.where(phone_missing, nan, phone_valid.astype(float)),
    }


def _postcode_match(
    parts: dict[str, tuple[str | None, ...]], postcode: np.ndarray, parsed: np.ndarray
) -> np.ndarray:
    """1 if the postcode's district is the one the address names, 0 if not, NaN if unknown."""
    known = parsed & np.array([isinstance(p, str) and p != "" for p in postcode], dtype=bool)
    table = districts()
    row = district_of_postcode(np.asarray(postcode, dtype=object))
    safe = np.maximum(row, 0)
    name = table["district_ko"].to_numpy(dtype=object)[safe]
    province = table["province_ko"].to_numpy(dtype=object)[safe]
    said = {g: np.asarray(parts[g], dtype=object) for g in ("district", "city", "province")}
    named = (name == said["district"]) | (name == said["city"]) | (name == said["province"])
    same = (row >= 0) & named & (province == said["province"])
    return np.where(known, same.astype(float), np.nan)


def address_features(shipments: pd.DataFrame) -> pd.DataFrame:
    """Address-quality columns (`ADDRESS_FEATURES`) for shipments, on the same index."""
    columns = address_columns(
        shipments["dest_address"].to_numpy(dtype=object),
        shipments["dest_postcode"].to_numpy(dtype=object),
        shipments["recipient_phone"].to_numpy(dtype=object),
    )
    return pd.DataFrame(columns, index=shipments.index)[list(ADDRESS_FEATURES)]
