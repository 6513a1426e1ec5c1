"""Address-quality family: is the address complete, consistent and deliverable?

Address and contact defects (a missing 동/호 unit, a postcode of another district, an old
lot-number address, a misspelt road, a missing or malformed phone) are the main cause of
failed delivery attempts. This module parses the Korean address into its components and
scores them against the reference gazetteer (`contract.reference.korea`).

The raw address and phone never leave this module: only scores and flags come out, and
nothing here logs. Sources without addresses (e.g. Olist) give NaN, not zero. A store that
must not keep the text keeps `address_quality(shipments)` instead (the contract's
`address_quality` table); a shipment with such a row and no text is scored from it, with the
very values the text gave.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from contract.reference.korea import district_of_postcode, districts, road_names
from contract.schema import ADDRESS_QUALITY_COLUMNS
from contract.tables import Tables
from features.family import DONE, STATIC, Family, feature
from features.series import DAY, Context, DailySeries, lookup, sorted_keys, value, windowed
from features.snapshots import Columns, Snapshots, seconds, shipment_positions

NAME = "address"
POSTCODE_DAYS = 90  # failed-attempt history per postcode area needs a longer window
POSTCODE_PRIOR = 50.0

# The per-shipment columns: what a store keeps instead of the text (contract/schema.py).
ADDRESS_FEATURES: tuple[str, ...] = ADDRESS_QUALITY_COLUMNS

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


def postcode_area(postcodes: pd.Series | np.ndarray) -> np.ndarray:
    """First three digits of a postcode: the district-level area (thin data pools there)."""
    return np.array(
        [p[:3] if isinstance(p, str) and p else "?" for p in np.asarray(postcodes, dtype=object)],
        dtype=object,
    )


def postcode_history(
    ships: pd.DataFrame, events: pd.DataFrame, days: tuple[int, int]
) -> DailySeries:
    """Delivery attempts per postcode area and UTC day, and how many failed."""
    attempts = events[events["event_type"].isin(["DELIVERED", "DELIVERY_FAILED"])]
    # An attempt of an unknown parcel reads "?", like a missing postcode.
    where = shipment_positions(attempts["shipment_id"], ships)
    area = np.append(postcode_area(ships["dest_postcode"]), "?")[where]
    keys = sorted_keys(area, ["*"])
    day = np.floor(seconds(attempts["event_time"]) / DAY).astype(np.int64)
    failed = (attempts["event_type"] == "DELIVERY_FAILED").to_numpy(dtype=float)
    col = keys.get_indexer(area)
    star = np.full(len(col), keys.get_loc("*"))
    sums = windowed(
        np.concatenate([day, day]),
        np.concatenate([col, star]),
        len(keys),
        days,
        POSTCODE_DAYS,
        {"attempts": np.ones(2 * len(day)), "failed": np.tile(failed, 2)},
    )
    return DailySeries(days[0], keys, sums)


def postcode_fail_rate(snap: Snapshots, context: Context) -> np.ndarray:
    """Failed-attempt rate at each snapshot's destination postcode area, smoothed."""
    day = np.floor(snap.as_of_s / DAY).astype(np.int64)
    areas = context.series["postcode"]
    row, col, star = lookup(context, "postcode", postcode_area(snap.column("dest_postcode")), day)
    attempts, failed = value(areas, "attempts", row, col), value(areas, "failed", row, col)
    g_att, g_fail = value(areas, "attempts", row, star), value(areas, "failed", row, star)
    g_rate = np.where(g_att > 0, g_fail / np.maximum(g_att, 1), np.nan)
    return (failed + POSTCODE_PRIOR * g_rate) / (attempts + POSTCODE_PRIOR)


def address_quality(shipments: pd.DataFrame) -> pd.DataFrame:
    """The contract's `address_quality` rows of shipments: their address columns, by id."""
    derived = address_features(shipments).reset_index(drop=True)
    return derived.assign(shipment_id=shipments["shipment_id"].to_numpy())[
        ["shipment_id", *ADDRESS_FEATURES]
    ]


def _per_shipment(snap: Snapshots, derived: pd.DataFrame) -> Columns:
    """Address columns once per shipment (snapshots repeat shipments), spread back.

    From the text when there is any; from `derived` (stored address_quality rows) for a
    shipment that has a row there and neither address nor phone. Only the others are
    parsed: in a store without the text that is nearly none of a pass's parcels.
    """
    codes, _ = pd.factorize(snap.position)
    first = np.unique(codes, return_index=True)[1]
    texts = [
        np.asarray(snap.column(f), dtype=object)[first]
        for f in ("dest_address", "dest_postcode", "recipient_phone")
    ]
    use = np.zeros(len(first), dtype=bool)
    kept = pd.DataFrame()
    if len(derived):
        ids = np.asarray(snap.column("shipment_id"), dtype=object)[first]
        kept = derived.drop_duplicates("shipment_id").set_index("shipment_id").reindex(ids)
        no_text = pd.isna(texts[0]) & pd.isna(texts[2])
        use = no_text & kept[list(ADDRESS_FEATURES)].notna().any(axis=1).to_numpy()
    parse = np.flatnonzero(~use)
    parsed = address_columns(*(t[parse] for t in texts))
    per_shipment = {}
    for name in ADDRESS_FEATURES:
        values = np.full(len(first), np.nan)
        values[parse] = parsed[name]
        if use.any():
            values[use] = kept[name].to_numpy(dtype=float)[use]
        per_shipment[name] = values
    return {name: values[codes] for name, values in per_shipment.items()}


def _compute(snap: Snapshots, tables: Tables, context: Context, done: Columns) -> Columns:
    return {
        **_per_shipment(snap, tables.address_quality),
        "addr_postcode_fail_rate": postcode_fail_rate(snap, context),
    }


FEATURES = (
    feature("addr_parse_ok", NAME, "Address parsed into province and district.", STATIC),
    feature("addr_completeness", NAME, "Share of address components present.", STATIC),
    feature("addr_has_unit", NAME, "Unit detail (동/호, floor) present.", STATIC),
    feature("addr_old_style", NAME, "Old lot-number style address.", STATIC),
    feature("addr_road_unknown", NAME, "Road name not in the road list (likely typo).", STATIC),
    feature("addr_postcode_district_match", NAME, "Postcode lies in the named district.", STATIC),
    feature("addr_phone_missing", NAME, "No recipient phone.", STATIC),
    feature("addr_phone_valid", NAME, "Phone number is well formed.", STATIC),
    feature(
        "addr_postcode_fail_rate",
        NAME,
        "Failed-attempt rate at the destination postcode (smoothed).",
        DONE,
    ),
)

FAMILY = Family(NAME, "ADDRESS", FEATURES, _compute, {"postcode": postcode_history})
