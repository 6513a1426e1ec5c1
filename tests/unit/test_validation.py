"""The data contract: bad input is reported row by row, never dropped silently, never a crash."""

import numpy as np
import pandas as pd
import pytest

from contract.schema import SCAN_EVENTS, SHIPMENTS, TIMESTAMP_DTYPE
from contract.tables import Tables, empty_frame
from contract.validation import validate

pytestmark = pytest.mark.unit


def _shipments(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "shipment_id": [f"S{i}" for i in range(n)],
            "created_at": ["2025-07-01T01:00:00Z"] * n,
            "promised_at": ["2025-07-02T14:59:59Z"] * n,
            "service_level": "STANDARD",
            "carrier": "C",
            "origin_region": "Seoul",
            "dest_region": "Busan",
            "dest_address": "부산광역시 해운대구 해운대로 1 101동 1203호",
            "recipient_phone": "010-1234-5678",
            "weight_kg": 1.5,
            "declared_value": 20000.0,
        }
    )


def _events(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "shipment_id": ids,
            "event_time": ["2025-07-01T02:00:00Z"] * len(ids),
            "event_type": "CREATED",
        }
    )


def _check(shipments: pd.DataFrame, events: pd.DataFrame | None = None):
    return validate(
        Tables.from_frames(network=empty_frame_network()).replace(
            shipments=shipments, scan_events=events if events is not None else _events(["S0"])
        )
    )


def empty_frame_network() -> pd.DataFrame:
    from contract.schema import NETWORK

    return empty_frame(NETWORK)


def test_clean_input_passes_and_is_conformed():
    result = _check(_shipments())
    assert result.ok
    assert len(result.tables.shipments) == 3
    assert result.tables.shipments["created_at"].dtype == TIMESTAMP_DTYPE
    assert list(result.tables.shipments.columns) == SHIPMENTS.column_names
    assert list(result.tables.scan_events.columns) == SCAN_EVENTS.column_names


def test_wrong_dtype_is_rejected_with_row_and_rule():
    ships = _shipments().astype({"weight_kg": object})
    ships.loc[1, "weight_kg"] = "heavy"
    result = _check(ships)
    rej = result.rejections
    assert list(rej["row_key"]) == ["S1"]
    assert rej.iloc[0]["column"] == "weight_kg"
    assert rej.iloc[0]["rule"] == "not a valid float"
    assert rej.iloc[0]["value"] == "heavy"
    assert list(result.tables.shipments["shipment_id"]) == ["S0", "S2"]


def test_negative_weight_is_rejected():
    ships = _shipments()
    ships.loc[2, "weight_kg"] = -1.0
    result = _check(ships)
    assert result.rejections[["row_key", "rule"]].to_numpy().tolist() == [["S2", "below minimum 0"]]


def test_event_before_creation_and_unknown_shipment_are_rejected():
    events = _events(["S0", "S1", "NOPE"])
    events.loc[1, "event_time"] = "2025-06-30T00:00:00Z"
    result = _check(_shipments(), events)
    keys = result.rejections["row_key"].str.split("|").str[0]
    rules = dict(zip(keys, result.rejections["rule"], strict=True))
    assert rules == {"S1": "event before shipment creation", "NOPE": "unknown or rejected shipment"}
    assert list(result.tables.scan_events["shipment_id"]) == ["S0"]


def test_duplicate_ids_conflicting_are_all_rejected_identical_keep_first():
    ships = pd.concat([_shipments(), _shipments().iloc[[0]]], ignore_index=True)
    conflicting = _shipments().iloc[[1]].assign(weight_kg=9.0)
    ships = pd.concat([ships, conflicting], ignore_index=True)
    result = _check(ships)
    kept = sorted(result.tables.shipments["shipment_id"])
    assert kept == ["S0", "S2"]
    rules = result.rejections.groupby("row_key")["rule"].apply(set).to_dict()
    assert rules["S0"] == {"duplicate key (identical copy, first kept)"}
    assert rules["S1"] == {"duplicate key with conflicting values"}
    assert result.summary().set_index("rule")["rows"].to_dict() == {
        "duplicate key (identical copy, first kept)": 1,
        "duplicate key with conflicting values": 1,
    }


def test_missing_required_column_rejects_every_row_without_crashing():
    result = _check(_shipments().drop(columns=["promised_at"]))
    assert result.tables.shipments.empty
    by_table = result.rejections.groupby("table")["rule"].apply(list).to_dict()
    assert by_table["shipments"] == ["missing required column"] * 3
    # Their events now point at rejected shipments and are reported too, not dropped silently.
    assert by_table["scan_events"] == ["unknown or rejected shipment"]


def test_unknown_event_type_and_bad_timestamp_are_reported():
    events = _events(["S0", "S1", "S2"])
    events.loc[0, "event_type"] = "TELEPORTED"
    events.loc[1, "event_time"] = "yesterday-ish"
    result = _check(_shipments(), events)
    assert sorted(result.rejections["rule"]) == [
        "not a valid timestamp",
        "not one of " + ", ".join(SCAN_EVENTS.column("event_type").allowed or ()),
    ]


def test_pii_never_appears_in_the_report():
    ships = _shipments()
    ships["recipient_phone"] = ships["recipient_phone"].astype(object)
    ships.loc[0, "created_at"] = "not a time"
    ships = pd.concat([ships, ships.iloc[[1]].assign(dest_address="다른 주소")], ignore_index=True)
    result = _check(ships)
    text = result.rejections.to_string()
    assert "010-1234-5678" not in text
    assert "해운대로" not in text and "다른 주소" not in text


def test_extra_columns_are_noted_not_kept():
    result = _check(_shipments().assign(internal_note="x"))
    assert result.ok
    assert "internal_note" not in result.tables.shipments
    assert any("internal_note" in n for n in result.notes)


def test_naive_timestamps_are_read_as_utc():
    ships = _shipments()
    ships["created_at"] = pd.Timestamp("2025-07-01 01:00")
    result = _check(ships)
    assert result.tables.shipments["created_at"].iloc[0] == pd.Timestamp(
        "2025-07-01 01:00", tz="UTC"
    )


def test_tables_round_trip_through_parquet(tmp_path):
    tables = validate(
        Tables.from_frames(shipments=_shipments(), scan_events=_events(["S0"]))
    ).tables
    tables.write(tmp_path / "t")
    back = Tables.read(tmp_path / "t")
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(getattr(back, name), frame, check_categorical=False)


def test_reading_a_directory_without_shipments_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"shipments\.parquet"):
        Tables.read(tmp_path)
    with pytest.raises(FileNotFoundError, match="no Tables directory"):
        Tables.read(tmp_path / "missing")


def test_validation_keeps_nan_weights_for_nullable_columns():
    ships = _shipments()
    ships.loc[0, "weight_kg"] = np.nan
    assert _check(ships).ok


def test_typed_records_give_the_same_tables_as_full_validation():
    from contract.validation import validate_typed

    ships = _shipments(3)
    events = _events(["S0", "S1"])
    full = validate(Tables.empty().replace(shipments=ships, scan_events=events))
    records = ships.assign(
        created_at=pd.to_datetime(ships["created_at"], utc=True),
        promised_at=pd.to_datetime(ships["promised_at"], utc=True),
    ).to_dict("records")
    scans = events.assign(event_time=pd.to_datetime(events["event_time"], utc=True))
    fast = validate_typed(records, scans.to_dict("records"))
    assert fast.ok and full.ok
    pd.testing.assert_frame_equal(
        fast.tables.shipments.astype({"service_level": "str", "carrier": "str"}),
        full.tables.shipments.astype({"service_level": "str", "carrier": "str"}),
        check_categorical=False,
    )
    assert list(fast.tables.scan_events.dtypes) == list(full.tables.scan_events.dtypes)


def test_typed_records_still_get_the_cross_field_rules():
    from contract.validation import validate_typed

    t0 = pd.Timestamp("2025-07-01T01:00:00Z")
    ship = {"shipment_id": "S0", "created_at": t0, "promised_at": t0 - pd.Timedelta(hours=1)}
    ship |= {"service_level": "STANDARD", "carrier": "C"}
    early = {"shipment_id": "S1", "event_time": t0 - pd.Timedelta(days=1), "event_type": "CREATED"}
    ok = {**ship, "shipment_id": "S1", "promised_at": t0 + pd.Timedelta(days=1)}
    result = validate_typed([ship, ok, ok], [early])
    rules = set(zip(result.rejections["column"], result.rejections["rule"], strict=True))
    assert ("promised_at", "promised before creation") in rules
    assert ("shipment_id", "duplicate key") in rules
    assert result.tables.shipments.empty


@pytest.mark.parametrize(
    ("change", "column", "rule"),
    [
        ({"promised_at": -1}, "promised_at", "promised before creation"),
        ({"delivered_at": -1}, "delivered_at", "delivered before creation"),
        ({"final_status": "DELIVERED"}, "delivered_at", "status DELIVERED without delivered_at"),
        ({"event_time": -1}, "event_time", "event before shipment creation"),
        ({"event_shipment": "S9"}, "shipment_id", "unknown or rejected shipment"),
        ({"duplicate": True}, "shipment_id", "duplicate key"),
    ],
)
def test_typed_records_report_each_cross_field_rule(change, column, rule):
    """validate_typed skips its frame checks when a plain-Python pass finds nothing wrong:
    every rule must be caught by that pass, or a bad row would go through unreported."""
    from contract.validation import validate_typed

    t0 = pd.Timestamp("2025-07-01T01:00:00Z")
    ship = {"shipment_id": "S0", "created_at": t0, "promised_at": t0 + pd.Timedelta(days=2)}
    ship |= {"service_level": "STANDARD", "carrier": "C", "delivered_at": None}
    event = {"shipment_id": "S0", "event_time": t0 + pd.Timedelta(hours=1), "event_type": "CREATED"}
    assert validate_typed([ship], [event]).ok
    ship, event = dict(ship), dict(event)
    for name in ("promised_at", "delivered_at"):
        if change.get(name) == -1:
            ship[name] = t0 - pd.Timedelta(hours=1)
    if "final_status" in change:
        ship["final_status"] = change["final_status"]
    if change.get("event_time") == -1:
        event["event_time"] = t0 - pd.Timedelta(hours=1)
    if "event_shipment" in change:
        event["shipment_id"] = change["event_shipment"]
    ships = [ship, dict(ship)] if change.get("duplicate") else [ship]
    result = validate_typed(ships, [event])
    assert not result.ok
    assert (column, rule) in set(
        zip(result.rejections["column"], result.rejections["rule"], strict=True)
    )


def test_typed_frame_matches_pandas_on_missing_and_mixed_values():
    from contract.schema import SCAN_EVENTS
    from contract.tables import typed_frame

    t0 = pd.Timestamp("2025-07-01T01:00:00+09:00")
    rows = [
        {
            "shipment_id": "A",
            "event_time": t0.to_pydatetime(),
            "event_type": "HUB_IN",
            "region": None,
        },
        {"shipment_id": "B", "event_time": None, "event_type": "CREATED", "region": float("nan")},
    ]
    frame = typed_frame(rows, SCAN_EVENTS)
    assert str(frame["event_time"].dtype) == "datetime64[us, UTC]"
    assert frame["event_time"].iloc[0] == t0 and pd.isna(frame["event_time"].iloc[1])
    assert list(frame["event_type"].cat.categories) == ["CREATED", "HUB_IN"]
    assert list(frame["event_type"]) == ["HUB_IN", "CREATED"]
    assert frame["region"].isna().all() and frame["region"].cat.categories.dtype == object
    assert frame["location_id"].isna().all()


def test_payment_attributes_are_optional_checked_and_reported_by_field():
    ships = _shipments(4)
    result = _check(ships)  # a source without payments: the columns are simply missing
    assert result.ok and result.tables.shipments["payment_installments"].isna().all()
    ships = ships.assign(payment_type=["boleto", "credit_card", None, "voucher"])
    ships["payment_installments"] = [1.0, 10.0, None, -2.0]
    ships.loc[1, "payment_installments"] = 500.0
    result = _check(ships)
    rejected = sorted(result.rejections[["row_key", "column", "rule"]].to_numpy().tolist())
    assert rejected == [
        ["S1", "payment_installments", "above maximum 120"],
        ["S3", "payment_installments", "below minimum 0"],
    ]
    kept = result.tables.shipments
    assert kept["shipment_id"].tolist() == ["S0", "S2"]
    assert kept["payment_type"].tolist()[0] == "boleto" and pd.isna(kept["payment_type"][1])
    assert kept["payment_type"].dtype == "category"
