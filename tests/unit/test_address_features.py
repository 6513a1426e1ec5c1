"""Address-quality family: scores follow the address, and agree with the simulator's defects."""

import numpy as np
import pandas as pd
import pytest

from features.address import (
    ADDRESS_FEATURES,
    address_columns,
    address_features,
    postcode_history,
)
from sources.synthetic.addresses import AddressDefectRates, generate_addresses

pytestmark = pytest.mark.unit

CLEAN = "서울특별시 강남구 테헤란로 152 101동 1203호"


def _one(address, postcode="06123", phone="010-1234-5678") -> dict[str, float]:
    cols = address_columns(
        np.array([address], dtype=object),
        np.array([postcode], dtype=object),
        np.array([phone], dtype=object),
    )
    return {k: float(v[0]) for k, v in cols.items()}


def test_a_missing_unit_lowers_completeness():
    with_unit = _one(CLEAN)
    without = _one(CLEAN.replace(" 101동 1203호", ""))
    assert without["addr_completeness"] < with_unit["addr_completeness"] == 1.0
    assert with_unit["addr_has_unit"] == 1.0 and without["addr_has_unit"] == 0.0


def test_postcode_of_another_district_or_province_does_not_match():
    assert _one(CLEAN, postcode="06123")["addr_postcode_district_match"] == 1.0
    assert _one(CLEAN, postcode="03000")["addr_postcode_district_match"] == 0.0  # 종로구
    assert (
        _one("대구광역시 중구 중앙로 10", postcode="04500")["addr_postcode_district_match"] == 0.0
    )
    assert np.isnan(_one(CLEAN, postcode=None)["addr_postcode_district_match"])


@pytest.fixture(scope="module")
def generated():
    rng = np.random.default_rng(12)
    rates = AddressDefectRates(
        missing_unit=0.1,
        postcode_mismatch=0.08,
        old_style=0.08,
        typo=0.08,
        phone_missing=0.05,
        phone_invalid=0.05,
    )
    batch = generate_addresses(rng.integers(0, 30, 50_000), rng, rates)
    frame = pd.DataFrame(address_columns(batch.address, batch.postcode, batch.phone))
    frame["defect"] = batch.defect
    return frame


def test_flags_agree_with_the_hidden_defects(generated):
    by = generated.groupby("defect")
    assert (generated["addr_parse_ok"] == 1).mean() > 0.999
    assert by["addr_old_style"].mean()["OLD_STYLE"] >= 0.95
    assert by["addr_road_unknown"].mean()["TYPO"] >= 0.95
    assert by["addr_road_unknown"].mean()["NONE"] <= 0.01
    assert by["addr_postcode_district_match"].mean()["POSTCODE_MISMATCH"] <= 0.05
    assert by["addr_postcode_district_match"].mean()["NONE"] >= 0.99
    assert by["addr_phone_missing"].mean()["PHONE_MISSING"] == 1.0
    assert by["addr_phone_valid"].mean()["PHONE_INVALID"] == 0.0
    assert by["addr_phone_valid"].mean()["NONE"] == 1.0
    assert by["addr_has_unit"].mean()["MISSING_UNIT"] == 0.0
    assert by["addr_completeness"].mean()["MISSING_UNIT"] < by["addr_completeness"].mean()["NONE"]


def test_missing_garbage_and_foreign_input_never_raise():
    cols = address_columns(
        np.array([None, "", "garbage ###", "1600 Pennsylvania Ave NW"], dtype=object),
        np.array([None, "1", "x", "20500"], dtype=object),
        np.array([None, "", "abc", "+1 202 456 1111"], dtype=object),
    )
    assert np.isnan(cols["addr_completeness"][:2]).all(), "no address: missing, not zero"
    assert (cols["addr_parse_ok"][2:] == 0).all()
    assert (cols["addr_phone_missing"] == [1, 1, 0, 0]).all()
    assert (
        np.isnan(cols["addr_phone_valid"][:2]).all() and (cols["addr_phone_valid"][2:] == 0).all()
    )


def test_pii_never_leaves_the_module():
    ships = pd.DataFrame(
        {"dest_address": [CLEAN], "dest_postcode": ["06123"], "recipient_phone": ["010-9876-5432"]},
        index=[7],
    )
    out = address_features(ships)
    assert list(out.columns) == list(ADDRESS_FEATURES)
    assert list(out.index) == [7]
    assert all(pd.api.types.is_float_dtype(t) for t in out.dtypes)
    assert "9876" not in out.to_string() and "테헤란로" not in out.to_string()


def test_postcode_history_pools_attempts_of_unknown_parcels_and_postcodes_under_unknown():
    ships = pd.DataFrame(
        {"shipment_id": pd.array(["A", "B"], dtype="str"), "dest_postcode": ["06123", None]}
    )
    day = pd.Timestamp("2025-11-03T10:00Z")
    events = pd.DataFrame(
        {
            "shipment_id": pd.array(["A", "B", "GONE"], dtype="str"),
            "event_type": pd.Categorical(["DELIVERED", "DELIVERY_FAILED", "DELIVERY_FAILED"]),
            "event_time": pd.Series([day, day, day]).astype("datetime64[us, UTC]"),
        }
    )
    first = int(day.timestamp() // 86400)
    series = postcode_history(ships, events, (first, first + 1))
    assert list(series.keys) == ["*", "061", "?"]
    after = series.sums["failed"][-1]  # the boundary after that day
    assert after.tolist() == [2.0, 0.0, 2.0]
    assert series.sums["attempts"][-1].tolist() == [3.0, 1.0, 2.0]
