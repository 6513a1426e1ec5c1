"""The Olist adapter: public file names in, canonical tables and an import report out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sources.olist import FILES, read_olist

pytestmark = pytest.mark.data

ORDERS = [
    # order_id, customer_id, status, purchase, carrier, delivered, estimated
    (
        "o_ok",
        "c1",
        "delivered",
        "2017-10-02 10:56:00",
        "2017-10-04 19:55:00",
        "2017-10-10 21:25:00",
        "2017-10-18 00:00:00",
    ),
    (
        "o_late",
        "c2",
        "delivered",
        "2017-11-18 19:28:00",
        "2017-11-22 13:39:00",
        "2017-12-16 10:00:00",
        "2017-12-15 00:00:00",
    ),
    (
        "o_lastday",
        "c3",
        "delivered",
        "2017-11-18 19:28:00",
        "2017-11-22 13:39:00",
        "2017-12-15 23:50:00",
        "2017-12-15 00:00:00",
    ),
    ("o_cancel", "c4", "canceled", "2018-01-05 08:00:00", None, None, "2018-01-25 00:00:00"),
    (
        "o_shipped",
        "c5",
        "shipped",
        "2018-01-06 08:00:00",
        "2018-01-08 09:00:00",
        None,
        "2018-01-26 00:00:00",
    ),
    (
        "o_undated",
        "c6",
        "delivered",
        "2018-01-07 08:00:00",
        "2018-01-08 09:00:00",
        None,
        "2018-01-27 00:00:00",
    ),
    (
        "o_nozip",
        "c_missing",
        "delivered",
        "2018-01-08 08:00:00",
        "2018-01-09 09:00:00",
        "2018-01-12 09:00:00",
        "2018-01-27 00:00:00",
    ),
    ("o_nopromise", "c7", "delivered", "2018-01-08 08:00:00", None, "2018-01-12 09:00:00", None),
    (
        "o_time_travel",
        "c8",
        "delivered",
        "2018-01-09 08:00:00",
        "2018-01-08 09:00:00",
        "2018-01-12 09:00:00",
        "2018-01-27 00:00:00",
    ),
]


def write_fixture(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    columns = [
        "order_id",
        "customer_id",
        "order_status",
        "order_purchase_timestamp",
        "order_delivered_carrier_date",
        "order_delivered_customer_date",
        "order_estimated_delivery_date",
    ]
    orders = pd.DataFrame(ORDERS, columns=columns)
    orders.insert(4, "order_approved_at", orders["order_purchase_timestamp"])
    orders.to_csv(root / FILES["orders"], index=False)
    pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c_missing", "c7", "c8"],
            # 1037 lost its leading zero in the CSV; 99999 is not in the geolocation table
            "customer_zip_code_prefix": [1037, 20000, 90000, 1037, 1037, 1037, 99999, 1037, 1037],
        }
    ).to_csv(root / FILES["customers"], index=False)
    pd.DataFrame(
        {
            "geolocation_zip_code_prefix": [1037, 20000, 90000, 13023],
            "geolocation_lat": [-23.55, -22.90, -30.03, -22.90],
            "geolocation_lng": [-46.64, -43.20, -51.23, -47.06],
            "geolocation_city": ["sao paulo", "rio de janeiro", "porto alegre", "campinas"],
            "geolocation_state": ["SP", "RJ", "rs", "SP"],
        }
    ).to_csv(root / FILES["geolocation"], index=False)
    pd.DataFrame(
        {
            "order_id": ["o_ok", "o_ok", "o_late"],
            "order_item_id": [1, 2, 1],
            "product_id": ["p1", "p2", "p_unknown"],
            "seller_id": ["s1", "s1", "s_unknown"],
            "shipping_limit_date": ["2017-10-04 00:00:00"] * 3,
            "price": [10.0, 20.0, 30.0],
            "freight_value": [5.0, 5.0, 5.0],
        }
    ).to_csv(root / FILES["items"], index=False)
    pd.DataFrame(
        {
            "order_id": ["o_ok", "o_ok", "o_late"],
            "payment_sequential": [1, 2, 1],
            "payment_type": ["credit_card", "voucher", "boleto"],
            "payment_installments": [1, 1, 1],
            "payment_value": [30.0, 10.0, 35.0],
        }
    ).to_csv(root / FILES["payments"], index=False)
    pd.DataFrame(
        {
            "product_id": ["p1", "p2"],
            "product_category_name": ["a", "b"],
            "product_weight_g": [500, 1500],
        }
    ).to_csv(root / FILES["products"], index=False)
    pd.DataFrame(
        {
            "seller_id": ["s1"],
            "seller_zip_code_prefix": ["13023"],
            "seller_city": ["campinas"],
            "seller_state": ["SP"],
        }
    ).to_csv(root / FILES["sellers"], index=False)
    return root


@pytest.fixture()
def olist_dir(tmp_path):
    return write_fixture(tmp_path / "olist")


def test_orders_become_shipments_with_a_local_promise(olist_dir):
    tables, _ = read_olist(olist_dir)
    ships = tables.shipments.set_index("shipment_id")
    ok = ships.loc["o_ok"]
    # purchase 10:56 in Sao Paulo (UTC-3 in October 2017) -> 13:56 UTC
    assert ok["created_at"] == pd.Timestamp("2017-10-02 13:56:00", tz="UTC")
    # the promise is the END of the estimated day, local (DST, UTC-2, from 2017-10-15)
    assert ok["promised_at"] == pd.Timestamp("2017-10-19 01:59:59", tz="UTC")
    assert ok["final_status"] == "DELIVERED"
    assert ok["dest_region"] == "SP" and ok["dest_postcode"] == "01037"
    assert ok["origin_region"] == "SP" and ok["seller_id"] == "s1"
    assert ok["weight_kg"] == pytest.approx(2.0) and ok["declared_value"] == pytest.approx(40.0)
    assert pd.isna(ok["dest_address"]) and pd.isna(ok["recipient_phone"])
    assert ships.loc["o_late", "delivered_at"] > ships.loc["o_late", "promised_at"]
    # delivered late in the evening of the estimated day is still on time
    assert ships.loc["o_lastday", "delivered_at"] <= ships.loc["o_lastday", "promised_at"]
    assert ships.loc["o_cancel", "final_status"] == "CANCELED"
    assert pd.isna(ships.loc["o_shipped", "final_status"])  # still in flight
    assert ships.loc["o_late", "dest_region"] == "RJ"
    assert ships.loc["o_lastday", "dest_region"] == "RS"  # state codes upper-cased


def test_scans_are_created_picked_up_and_delivered(olist_dir):
    tables, _ = read_olist(olist_dir)
    events = tables.scan_events[tables.scan_events["shipment_id"] == "o_ok"]
    assert list(events.sort_values("event_time")["event_type"].astype(str)) == [
        "CREATED",
        "PICKED_UP",
        "DELIVERED",
    ]
    shipped = tables.scan_events[tables.scan_events["shipment_id"] == "o_shipped"]
    assert set(shipped["event_type"].astype(str)) == {"CREATED", "PICKED_UP"}


def test_every_drop_and_failed_join_is_counted_never_a_crash(olist_dir):
    tables, report = read_olist(olist_dir)
    counts = report.counts
    assert report.orders_read == len(ORDERS)
    assert counts["delivered without a delivery date (outcome unknown)"] == 1
    assert counts["no estimated delivery date (no promise)"] == 1
    assert counts["customer zip prefix not in the geolocation table (no destination region)"] == 1
    assert counts["no order items (origin, seller and weight unknown)"] == 5
    assert counts["seller unknown to the sellers table (no origin)"] == 1
    table = report.table()
    rejected = table[table["stage"] == "contract:scan_events"]
    assert "event before shipment creation" in " ".join(rejected["reason"])  # o_time_travel
    ids = set(tables.shipments["shipment_id"])
    assert "o_undated" not in ids and "o_nopromise" not in ids
    assert "o_nozip" in ids  # kept, with an unknown destination


def test_missing_optional_files_are_reported_not_fatal(olist_dir):
    for name in ("items", "payments", "products", "sellers", "geolocation"):
        (olist_dir / FILES[name]).unlink()
    tables, report = read_olist(olist_dir)
    assert len(tables.shipments) == 7
    assert report.counts["no payments (value unknown)"] == 7
    assert tables.shipments["dest_region"].isna().all()


def test_a_folder_without_orders_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"olist_orders_dataset\.csv"):
        read_olist(tmp_path)


def test_the_shared_olist_files(shared_data):
    directory = shared_data / "olist"
    weather = shared_data / "weather_br" / "inmet_daily_sp_rs_2016_2018.csv"
    tables, report = read_olist(directory, weather)
    ships = tables.shipments
    assert report.orders_read == 5_987 and len(ships) > 5_900
    delivered = ships["delivered_at"].notna()
    late = (ships.loc[delivered, "delivered_at"] > ships.loc[delivered, "promised_at"]).mean()
    assert 0.05 < late < 0.10  # "about 7% of delivered orders" (data README)
    assert ships["dest_region"].notna().mean() > 0.99
    assert set(tables.weather_daily["region"].astype(str)) == {"SP", "RS"}
    local = ships["promised_at"].dt.tz_convert("America/Sao_Paulo")
    assert (local.dt.strftime("%H:%M:%S") == "23:59:59").all()


def test_olist_source_trains_on_purchase_and_handoff_snapshots(olist_dir):
    from features.build import build_features
    from training.config import TrainConfig
    from training.dataset import sample_snapshots
    from training.sources import load_data
    from training.train import window_of

    data = load_data("olist", olist_dir)
    assert data.source == "olist" and data.import_report is not None
    config = TrainConfig.for_source("olist")
    snaps = sample_snapshots(data.tables, data.now, config.plan)
    assert set(snaps["stage"].astype(str)) == {"CREATED", "PICKED_UP"}
    window = window_of(data, config)
    assert window.evaluate_from == pd.Timestamp("2017-11-01", tz="UTC")
    x = build_features(data.tables, snaps)  # no network table: hub load is unknown, no crash
    assert x.filter(like="hub_").isna().all().all()
    assert len(x) == len(snaps)


def test_olist_source_needs_a_directory():
    from training.sources import load_data

    with pytest.raises(ValueError, match="--data DIR"):
        load_data("olist", None)
