"""Recipient addresses, phones and injected defects; the districts and postcode reference."""

import re
from dataclasses import fields

import numpy as np
import pytest

from contract.reference.korea import district_of_postcode, districts, regions, road_names
from sources.synthetic.addresses import (
    APARTMENT_SHARE,
    DEFECT_KINDS,
    AddressBatch,
    AddressDefectRates,
    generate_addresses,
    generate_postcodes,
)

pytestmark = pytest.mark.unit

N = 200_000
SEED = 5
PHONE = re.compile(r"010-\d{4}-\d{4}")
UNIT = re.compile(r"\d+동 \d+호")
LOT = re.compile(r"\d+-\d+")
BRANCH = re.compile(r"\d+번길$")
ZERO_RATES = AddressDefectRates(**{f.name: 0.0 for f in fields(AddressDefectRates)})

# National 5-digit postcodes: the first two digits name the province.
PROVINCE_PREFIXES = {
    "서울특별시": (1, 9),
    "경기도": (10, 18),
    "인천광역시": (21, 23),
    "강원특별자치도": (24, 26),
    "충청북도": (27, 29),
    "세종특별자치시": (30, 30),
    "대전광역시": (34, 35),
    "경상북도": (36, 40),
    "대구광역시": (41, 43),
    "울산광역시": (44, 45),
    "부산광역시": (46, 49),
    "경상남도": (50, 53),
    "전북특별자치도": (54, 56),
    "전라남도": (57, 60),
    "광주광역시": (61, 62),
    "제주특별자치도": (63, 63),
}


def _regions(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, len(regions()), n)


@pytest.fixture(scope="module")
def region_idx() -> np.ndarray:
    return _regions(N)


@pytest.fixture(scope="module")
def batch(region_idx) -> AddressBatch:
    return generate_addresses(region_idx, np.random.default_rng(SEED), AddressDefectRates())


@pytest.fixture(scope="module")
def clean_batch(region_idx) -> AddressBatch:
    """The same seed with no defects: the addresses as they were before defects were injected."""
    return generate_addresses(region_idx, np.random.default_rng(SEED), ZERO_RATES)


def _rows(batch: AddressBatch, kind: str) -> np.ndarray:
    rows = np.flatnonzero(batch.defect == kind)
    assert len(rows) > 100, f"too few {kind} rows to test"
    return rows


def _road_tokens(address: str) -> list[str]:
    """Tokens that look like a road (end in 로 or 길); no province, city or dong does."""
    return [t.rstrip(",") for t in address.split() if t.rstrip(",").endswith(("로", "길"))]


def _stem(road: str) -> str:
    """The road name without its `12번길` branch suffix."""
    return BRANCH.sub("", road)


# --- the batch as a whole ---------------------------------------------------------------------
def test_batch_shapes_and_kinds(batch):
    for name in ("address", "postcode", "phone", "district_idx", "defect"):
        assert len(getattr(batch, name)) == N, name
    assert set(batch.defect) <= set(DEFECT_KINDS)
    assert set(batch.defect) == set(DEFECT_KINDS), "every kind occurs at the default rates"


def test_districts_belong_to_the_parcels_region(batch, region_idx):
    table = districts()
    assert (table["region_idx"].to_numpy()[batch.district_idx] == region_idx).all()
    # Weighted by population share: Seoul's 송파구 (weight 12) beats 종로구 (weight 3).
    seoul = np.flatnonzero(region_idx == regions()["region"].tolist().index("Seoul"))
    names = table["district_ko"].to_numpy()[batch.district_idx[seoul]]
    assert (names == "송파구").sum() > 2.5 * (names == "종로구").sum()


@pytest.mark.parametrize(
    "rates",
    [
        AddressDefectRates(),
        AddressDefectRates(
            missing_unit=0.1,
            postcode_mismatch=0.05,
            old_style=0.2,
            typo=0.03,
            phone_missing=0.1,
            phone_invalid=0.02,
        ),
    ],
    ids=["default", "custom"],
)
def test_defect_shares_match_the_configured_rates(rates, region_idx):
    defect = generate_addresses(region_idx, np.random.default_rng(7), rates).defect
    expected = {
        "MISSING_UNIT": rates.missing_unit,
        "POSTCODE_MISMATCH": rates.postcode_mismatch,
        "OLD_STYLE": rates.old_style,
        "TYPO": rates.typo,
        "PHONE_MISSING": rates.phone_missing,
        "PHONE_INVALID": rates.phone_invalid,
    }
    expected["NONE"] = 1 - sum(expected.values())
    for kind, rate in expected.items():
        share = float(np.mean(defect == kind))
        tol = 5 * np.sqrt(rate * (1 - rate) / N) + 1e-4
        assert abs(share - rate) < tol, f"{kind}: {share:.4f} vs configured {rate:.4f}"


def test_rates_reject_negative_or_over_one_totals():
    with pytest.raises(ValueError, match="at most 1"):
        AddressDefectRates(typo=-0.01)
    with pytest.raises(ValueError, match="at most 1"):
        AddressDefectRates(postcode_mismatch=0.5, old_style=0.4, typo=0.2)
    with pytest.raises(ValueError, match="apartment share"):
        AddressDefectRates(missing_unit=APARTMENT_SHARE + 0.01)
    with pytest.raises(ValueError, match="at most 1"):
        AddressDefectRates(missing_unit=0.5, postcode_mismatch=0.5)  # plus the default others
    # The bounds themselves are allowed.
    zero = {f.name: 0.0 for f in fields(AddressDefectRates)}
    AddressDefectRates(**zero)
    AddressDefectRates(**{**zero, "missing_unit": 0.5, "postcode_mismatch": 0.5})


def test_same_seed_same_batch_different_seed_different(region_idx):
    rates = AddressDefectRates()
    regions_small = region_idx[:20_000]
    a = generate_addresses(regions_small, np.random.default_rng(3), rates)
    b = generate_addresses(regions_small, np.random.default_rng(3), rates)
    c = generate_addresses(regions_small, np.random.default_rng(4), rates)
    for name in ("address", "postcode", "phone", "district_idx", "defect"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.address != c.address).mean() > 0.99
    assert (a.postcode != c.postcode).mean() > 0.9
    assert (a.defect != c.defect).any()


# --- postcodes --------------------------------------------------------------------------------
def test_postcodes_are_five_digits_and_map_back_to_the_district(batch):
    assert all(re.fullmatch(r"\d{5}", p) for p in batch.postcode)
    keep = batch.defect != "POSTCODE_MISMATCH"
    mapped = district_of_postcode(batch.postcode[keep])
    np.testing.assert_array_equal(mapped, batch.district_idx[keep])


def test_postcode_mismatch_points_to_another_existing_district(batch):
    rows = _rows(batch, "POSTCODE_MISMATCH")
    mapped = district_of_postcode(batch.postcode[rows])
    assert (mapped >= 0).all(), "a mismatched postcode is still a real postcode"
    assert (mapped != batch.district_idx[rows]).all()
    # Mostly another region altogether, so the parcel is sorted to the wrong route.
    table_region = districts()["region_idx"].to_numpy()
    assert (table_region[mapped] != table_region[batch.district_idx[rows]]).mean() > 0.8


def test_sender_postcodes_are_valid_for_their_region():
    region_idx = _regions(5_000, seed=2)
    postcodes, district = generate_postcodes(region_idx, np.random.default_rng(0))
    assert (districts()["region_idx"].to_numpy()[district] == region_idx).all()
    np.testing.assert_array_equal(district_of_postcode(postcodes), district)


# --- address defects --------------------------------------------------------------------------
def test_clean_rows_start_with_their_province_and_name_a_known_road(batch):
    known = road_names()
    province = districts()["province_ko"].to_numpy()
    rows = np.flatnonzero(batch.defect == "NONE")[:20_000]
    for i in rows:
        address = batch.address[i]
        assert address.startswith(province[batch.district_idx[i]] + " "), address
        roads = _road_tokens(address)
        assert len(roads) == 1, address
        assert _stem(roads[0]) in known, address
        assert not LOT.search(address), address


def test_apartments_have_a_unit_at_the_apartment_share(clean_batch):
    with_unit = np.mean([bool(UNIT.search(a)) for a in clean_batch.address])
    assert abs(with_unit - APARTMENT_SHARE) < 0.006


def test_missing_unit_rows_are_apartments_without_their_unit(batch, clean_batch):
    rows = _rows(batch, "MISSING_UNIT")
    for i in rows:
        broken, original = batch.address[i], clean_batch.address[i]
        assert not UNIT.search(broken), broken
        # The same draw without defects is an apartment: the same address plus its 동/호.
        assert re.fullmatch(re.escape(broken) + r" \d+동 \d+호", original), (broken, original)


def test_defects_only_touch_their_rows(batch, clean_batch):
    untouched = np.isin(
        batch.defect, ["NONE", "POSTCODE_MISMATCH", "PHONE_MISSING", "PHONE_INVALID"]
    )
    np.testing.assert_array_equal(batch.address[untouched], clean_batch.address[untouched])
    np.testing.assert_array_equal(batch.district_idx, clean_batch.district_idx)


def test_old_style_rows_have_a_lot_number_and_no_road(batch):
    known = road_names()
    dongs = districts()["dongs"].to_numpy()
    rows = _rows(batch, "OLD_STYLE")
    for i in rows:
        address = batch.address[i]
        assert LOT.search(address), address
        tokens = [t.rstrip(",") for t in address.split()]
        assert not any(_stem(t) in known for t in tokens), address
        # The lot number follows a legal dong of the parcel's own district.
        dong = tokens[tokens.index(LOT.search(address).group()) - 1]
        assert dong in dongs[batch.district_idx[i]], address


def test_typo_rows_without_a_branch_misspell_the_road(batch, clean_batch):
    known = road_names()
    rows = _rows(batch, "TYPO")
    checked = 0
    for i in rows:
        original = _road_tokens(clean_batch.address[i])
        if "번길" in original[0]:
            continue
        roads = _road_tokens(batch.address[i])
        assert len(roads) == 1, batch.address[i]
        assert roads[0] not in known, batch.address[i]
        assert roads[0][-1] == original[0][-1], "the 로/길 suffix is kept"
        checked += 1
    assert checked > 0.6 * len(rows)


def test_typo_rows_name_no_known_road_even_on_branch_roads(batch):
    known = road_names()
    rows = _rows(batch, "TYPO")
    still_known = [
        batch.address[i] for i in rows if _stem(_road_tokens(batch.address[i])[0]) in known
    ]
    assert not still_known, f"{len(still_known)} of {len(rows)}, e.g. {still_known[:3]}"


# --- phones -----------------------------------------------------------------------------------
def test_phones_by_defect(batch):
    fine = ~np.isin(batch.defect, ["PHONE_MISSING", "PHONE_INVALID"])
    assert all(PHONE.fullmatch(p) for p in batch.phone[fine])
    missing = _rows(batch, "PHONE_MISSING")
    assert all(p is None for p in batch.phone[missing])
    invalid = _rows(batch, "PHONE_INVALID")
    assert all(isinstance(p, str) and p and not PHONE.fullmatch(p) for p in batch.phone[invalid])
    assert all(p is not None for p in batch.phone[fine])


# --- the districts table and postcode lookup --------------------------------------------------
def test_district_postcode_ranges_do_not_overlap():
    table = districts()
    lo, hi = table["postcode_lo"].to_numpy(), table["postcode_hi"].to_numpy()
    assert (np.diff(lo) > 0).all(), "sorted by postcode_lo"
    assert (lo <= hi).all()
    assert (hi[:-1] < lo[1:]).all(), "ranges overlap"
    assert lo.min() >= 0 and hi.max() <= 99_999


def test_every_region_has_a_district():
    table = districts()
    assert len(regions()) == 30
    assert set(table["region_idx"]) == set(range(30))
    assert set(table["region"]) == set(regions()["region"])


def test_postcode_ranges_sit_in_their_province_prefix():
    table = districts()
    assert set(table["province_ko"]) <= set(PROVINCE_PREFIXES)
    for row in table.itertuples():
        first, last = PROVINCE_PREFIXES[row.province_ko]
        assert first <= row.postcode_lo // 1000 <= row.postcode_hi // 1000 <= last, row


def test_range_ends_map_to_their_district():
    table = districts()
    lo, hi = table["postcode_lo"].to_numpy(), table["postcode_hi"].to_numpy()
    padded = [f"{c:05d}" for c in np.concatenate([lo, hi])]
    expected = np.concatenate([np.arange(len(table))] * 2)
    np.testing.assert_array_equal(district_of_postcode(padded), expected)
    np.testing.assert_array_equal(district_of_postcode(np.array(padded, dtype=object)), expected)


def test_malformed_missing_or_out_of_range_postcodes_are_minus_one():
    table = districts()
    lo = table["postcode_lo"].to_numpy()
    hi = table["postcode_hi"].to_numpy()
    gaps = [f"{h + 1:05d}" for h, nxt in zip(hi[:-1], lo[1:], strict=True) if nxt > h + 1]
    assert gaps, "the table has gaps between districts"
    bad = ["abc", "", "0300A", "03-000", None, np.nan, "99999", "00000", "100000", *gaps]
    bad += [f"{lo.min() - 1:05d}", f"{hi.max() + 1:05d}"]
    np.testing.assert_array_equal(district_of_postcode(bad), -1)
    good = district_of_postcode(["03000", None, "zz"])
    assert good[0] >= 0 and (good[1:] == -1).all()


def test_non_five_digit_numeric_strings_are_malformed():
    np.testing.assert_array_equal(district_of_postcode(["030000", "3e4", "03000.5"]), -1)
