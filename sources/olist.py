"""Olist (Brazilian e-commerce, public Kaggle release) -> canonical tables.

Reads a directory with the public file names (the full release or a partial copy) and maps
it to the data contract (contract/schema.py):

- shipment = order; `created_at` = purchase; `promised_at` = the end of
  `order_estimated_delivery_date` in Brazil's local time (America/Sao_Paulo), in UTC;
- scans: CREATED (purchase), PICKED_UP (hand-over to the carrier), DELIVERED;
- destination from the customer's zip prefix via the geolocation table (state = region);
  origin from the seller of the order's first item when the items are known (missing
  otherwise); weight from the products, value from the payments;
- status: delivered -> DELIVERED, canceled/unavailable -> CANCELED, anything else in flight
  (an order shipped and never delivered is then overdue at the data's end: known late).

Nothing here crashes on missing joins: every order dropped and every failed join is counted
per reason in an `ImportReport`, next to the contract's own row rejections. Olist has no street
addresses or phone numbers, so the PII columns stay empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from contract.locale import Locale, PeakWindow
from contract.tables import Tables
from contract.validation import validate
from sources.base import Progress, SourceData, TrainingDefaults
from sources.fingerprint import fingerprint

LOCAL_TZ = "America/Sao_Paulo"
# Brazil's e-commerce peaks: Black Friday week (the fourth Friday of November) and the run-up
# to Christmas. Local time as UTC-3: daylight saving (until 2019) is not followed.
BRAZIL = Locale(
    name="br",
    timezone=LOCAL_TZ,
    utc_offset_h=-3.0,
    holiday_country="BR",
    peaks=(
        PeakWindow(month=11, weekday=4, nth=4, before=3, after=3),
        PeakWindow(month=12, first_day=1, last_day=24),
    ),
)
# A few thousand orders: small trees, a slow rate and randomised split thresholds, calibration
# cross-fitted over five time blocks, snapshots at the two stages the data has (purchase and
# hand-over), fixed folds around Black Friday (docs/real-data.md measures each choice).
OLIST_DEFAULTS = TrainingDefaults(
    booster={
        "num_leaves": 7,
        "learning_rate": 0.03,
        "n_rounds": 800,
        "min_child_samples": 30,
        "max_bin": 63,
        "early_stopping_rounds": 60,
        "extra_trees": True,
    },
    snapshot_every_hours=0.0,
    cross_fit_blocks=5,
    stage_metrics=(("CREATED", "purchase"), ("PICKED_UP", "handoff")),
    folds=("2017-09-01", "2017-11-01"),
)
FILES = {
    "orders": "olist_orders_dataset.csv",
    "customers": "olist_customers_dataset.csv",
    "geolocation": "olist_geolocation_dataset.csv",
    "items": "olist_order_items_dataset.csv",
    "payments": "olist_order_payments_dataset.csv",
    "products": "olist_products_dataset.csv",
    "sellers": "olist_sellers_dataset.csv",
}
REQUIRED = ("orders", "customers")
STATUS = {"delivered": "DELIVERED", "canceled": "CANCELED", "unavailable": "CANCELED"}
CARRIER = "OLIST"  # the public data does not name the carriers
SERVICE_LEVEL = "STANDARD"  # nor service levels


@dataclass
class ImportReport:
    """What the import dropped or could not join, counted per reason.

    Attributes:
        orders_read: Orders in the orders file.
        counts: Reason -> number of orders (dropped orders and failed joins).
        rejections: The contract's row-level report (table, row key, column, rule).
    """

    orders_read: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    rejections: pd.DataFrame = field(default_factory=pd.DataFrame)

    def add(self, reason: str, count: int) -> None:
        """Count `count` orders under `reason` (zero counts are kept out)."""
        if count:
            self.counts[reason] = self.counts.get(reason, 0) + int(count)

    def table(self) -> pd.DataFrame:
        """One row per reason: the import's own counts, then the contract's rejections."""
        rows = [("import", reason, n) for reason, n in self.counts.items()]
        if not self.rejections.empty:
            by_rule = self.rejections.groupby(["table", "column", "rule"]).size()
            rows += [(f"contract:{t}", f"{c}: {r}", int(n)) for (t, c, r), n in by_rule.items()]
        return pd.DataFrame(rows, columns=["stage", "reason", "orders"])


def read_olist(
    directory: str | Path, weather_csv: str | Path | None = None
) -> tuple[Tables, ImportReport]:
    """Canonical tables from an Olist-format directory, and what was dropped on the way.

    Args:
        directory: Folder with the public Olist CSV names (only orders and customers are
            required; the other files enrich what they can).
        weather_csv: INMET daily file (`weather_br/inmet_daily_*.csv`); None: no weather.

    Raises:
        FileNotFoundError: A required file is missing (the message names it).
    """
    root = Path(directory)
    for name in REQUIRED:
        if not (root / FILES[name]).exists():
            raise FileNotFoundError(f"{root} is not an Olist directory: no {FILES[name]}")
    report = ImportReport()
    orders = _read(root, "orders", dtype=str)
    report.orders_read = len(orders)
    orders = _usable_orders(orders, report)

    geo = _geolocation(root)
    customers = _read(root, "customers", dtype=str)
    dest = orders[["order_id", "customer_id"]].merge(customers, on="customer_id", how="left")
    dest["zip"] = _zip(dest["customer_zip_code_prefix"])
    dest = dest.merge(geo, left_on="zip", right_index=True, how="left")
    report.add("customer unknown (no destination)", dest["customer_zip_code_prefix"].isna().sum())
    report.add(
        "customer zip prefix not in the geolocation table (no destination region)",
        (dest["customer_zip_code_prefix"].notna() & dest["state"].isna()).sum(),
    )

    origin = _origins(root, orders, geo, report)
    value, payment_type, installments = _payments(root, orders, report)

    created = _local_to_utc(orders["order_purchase_timestamp"])
    promised_day = pd.to_datetime(orders["order_estimated_delivery_date"]).dt.normalize()
    promised = _local_to_utc(promised_day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1))
    delivered = _local_to_utc(orders["order_delivered_customer_date"])
    status = orders["order_status"].map(STATUS)
    shipments = pd.DataFrame(
        {
            "shipment_id": orders["order_id"].to_numpy(),
            "created_at": created.to_numpy(),
            "promised_at": promised.to_numpy(),
            "service_level": SERVICE_LEVEL,
            "carrier": CARRIER,
            "origin_region": origin["state"].to_numpy(),
            "origin_postcode": origin["zip"].to_numpy(),
            "origin_lat": origin["lat"].to_numpy(),
            "origin_lon": origin["lon"].to_numpy(),
            "dest_region": dest["state"].to_numpy(),
            "dest_postcode": dest["zip"].to_numpy(),
            "dest_lat": dest["lat"].to_numpy(),
            "dest_lon": dest["lon"].to_numpy(),
            "dest_address": None,
            "recipient_phone": None,
            "weight_kg": origin["weight_kg"].to_numpy(),
            "declared_value": value.to_numpy(),
            "seller_id": origin["seller_id"].to_numpy(),
            "payment_type": payment_type.to_numpy(),
            "payment_installments": installments.to_numpy(),
            "delivered_at": delivered.to_numpy(),
            "final_status": status.to_numpy(),
        }
    )
    events = _events(orders, shipments)
    weather = read_inmet(weather_csv) if weather_csv else None
    raw = Tables.empty(BRAZIL).replace(shipments=shipments, scan_events=events)
    if weather is not None:
        raw = raw.replace(weather_daily=weather)
    result = validate(raw)
    report.rejections = result.rejections
    return result.tables, report


def _read(root: Path, name: str, **kwargs: object) -> pd.DataFrame:
    path = root / FILES[name]
    if not path.exists():
        return pd.DataFrame()
    frame = pd.read_csv(path, encoding="utf-8-sig", **kwargs)
    return frame


def _usable_orders(orders: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """Drop orders that cannot be shipments at all (no id, purchase time or promise)."""
    keep = pd.Series(True, index=orders.index)
    for column, reason in (
        ("order_id", "no order id"),
        ("order_purchase_timestamp", "no purchase time"),
        ("order_estimated_delivery_date", "no estimated delivery date (no promise)"),
    ):
        missing = orders[column].isna() & keep
        report.add(reason, missing.sum())
        keep &= ~missing
    delivered_undated = (
        (orders["order_status"] == "delivered")
        & orders["order_delivered_customer_date"].isna()
        & keep
    )
    # Its outcome is unknown: as an undelivered order it would wrongly count as late.
    report.add("delivered without a delivery date (outcome unknown)", delivered_undated.sum())
    keep &= ~delivered_undated
    duplicated = orders["order_id"].duplicated() & keep
    report.add("duplicate order id", duplicated.sum())
    keep &= ~duplicated
    return orders[keep].reset_index(drop=True)


def _geolocation(root: Path) -> pd.DataFrame:
    """Zip prefix -> state, lat, lon (the first point of each prefix)."""
    geo = _read(root, "geolocation", dtype={"geolocation_zip_code_prefix": str})
    if geo.empty:
        return pd.DataFrame(columns=["state", "lat", "lon"])
    geo = geo.assign(zip=_zip(geo["geolocation_zip_code_prefix"]))
    geo = geo.drop_duplicates("zip").set_index("zip")
    return pd.DataFrame(
        {
            "state": geo["geolocation_state"].str.upper(),
            "lat": pd.to_numeric(geo["geolocation_lat"], errors="coerce"),
            "lon": pd.to_numeric(geo["geolocation_lng"], errors="coerce"),
        }
    )


def _origins(
    root: Path, orders: pd.DataFrame, geo: pd.DataFrame, report: ImportReport
) -> pd.DataFrame:
    """Per order: seller, its state, zip and position, and the parcel's weight."""
    items = _read(root, "items", dtype={"order_id": str, "seller_id": str, "product_id": str})
    out = pd.DataFrame({"order_id": orders["order_id"]})
    if items.empty:
        report.add("no order items (origin, seller and weight unknown)", len(orders))
        return out.assign(
            seller_id=None, state=None, zip=None, lat=np.nan, lon=np.nan, weight_kg=np.nan
        )
    first = items.sort_values(["order_id", "order_item_id"]).drop_duplicates("order_id")
    products = _read(root, "products", dtype={"product_id": str})
    if not products.empty:
        grams = pd.to_numeric(products.set_index("product_id")["product_weight_g"], errors="coerce")
        items = items.assign(weight_g=items["product_id"].map(grams))
        weight = items.groupby("order_id")["weight_g"].sum(min_count=1) / 1000
    else:
        weight = pd.Series(dtype=float)
    sellers = _read(root, "sellers", dtype=str)
    seller_zip = (
        _zip(sellers.set_index("seller_id")["seller_zip_code_prefix"])
        if not sellers.empty
        else pd.Series(dtype=str)
    )
    out = out.merge(first[["order_id", "seller_id"]], on="order_id", how="left")
    out["zip"] = out["seller_id"].map(seller_zip)
    out = out.merge(geo, left_on="zip", right_index=True, how="left")
    out["weight_kg"] = out["order_id"].map(weight)
    report.add("no order items (origin, seller and weight unknown)", out["seller_id"].isna().sum())
    report.add(
        "seller unknown to the sellers table (no origin)",
        (out["seller_id"].notna() & out["zip"].isna()).sum(),
    )
    report.add(
        "items without a product weight (weight unknown)",
        (out["seller_id"].notna() & out["weight_kg"].isna()).sum(),
    )
    return out


def _payments(
    root: Path, orders: pd.DataFrame, report: ImportReport
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per order: the total paid, the main payment's type, and its installments."""
    payments = _read(root, "payments", dtype={"order_id": str})
    if payments.empty:
        report.add("no payments (value unknown)", len(orders))
        missing = pd.Series(np.nan, index=orders.index)
        return missing, pd.Series(None, index=orders.index, dtype=object), missing
    paid = pd.to_numeric(payments["payment_value"], errors="coerce")
    total = paid.groupby(payments["order_id"]).sum(min_count=1)
    # The largest payment says how the order was paid (vouchers often top up a card).
    main = payments.assign(paid=paid).sort_values("paid", ascending=False)
    main = main.drop_duplicates("order_id").set_index("order_id")
    installments = pd.to_numeric(main["payment_installments"], errors="coerce")
    value = orders["order_id"].map(total)
    report.add("no payments (value unknown)", value.isna().sum())
    return (
        value,
        orders["order_id"].map(main["payment_type"]),
        orders["order_id"].map(installments),
    )


def _events(orders: pd.DataFrame, shipments: pd.DataFrame) -> pd.DataFrame:
    """CREATED at purchase, PICKED_UP at the carrier hand-over, DELIVERED at delivery."""
    parts = []
    for column, kind, region in (
        ("order_purchase_timestamp", "CREATED", "origin_region"),
        ("order_delivered_carrier_date", "PICKED_UP", "origin_region"),
        ("order_delivered_customer_date", "DELIVERED", "dest_region"),
    ):
        when = _local_to_utc(orders[column])
        has = when.notna().to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "shipment_id": shipments["shipment_id"].to_numpy()[has],
                    "event_time": when.to_numpy()[has],
                    "event_type": kind,
                    "location_id": None,
                    "region": shipments[region].to_numpy()[has],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def read_inmet(path: str | Path) -> pd.DataFrame:
    """INMET daily station file -> `weather_daily` rows (region = the station's state).

    The file has no snow flag (none falls in SP or RS at these stations) nor maximum wind;
    the daily mean wind is not a maximum, so `wind_max_ms` stays missing.
    """
    raw = pd.read_csv(path)
    frame = pd.DataFrame(
        {
            "region": raw["uf"].str.upper(),
            "date": pd.to_datetime(raw["date"]),
            "precip_mm": pd.to_numeric(raw["precip_mm"], errors="coerce"),
            "temp_min_c": pd.to_numeric(raw["temp_min_c"], errors="coerce"),
            "temp_max_c": pd.to_numeric(raw["temp_max_c"], errors="coerce"),
            "snow": False,
            "wind_max_ms": np.nan,
            "weather_code": np.nan,
        }
    )
    return frame.drop_duplicates(["region", "date"]).reset_index(drop=True)


def _zip(values: pd.Series) -> pd.Series:
    """Zip prefixes as 5-digit strings (the CSVs drop leading zeros)."""
    text = values.astype("str").str.strip().str.replace(r"\.0$", "", regex=True)
    return text.where(values.notna()).str.zfill(5)


def _local_to_utc(values: pd.Series) -> pd.Series:
    """Naive Brazil-local times -> UTC (DST gaps and repeats resolved forward)."""
    local = pd.to_datetime(values, errors="coerce")
    return local.dt.tz_localize(
        LOCAL_TZ, ambiguous="NaT", nonexistent="shift_forward"
    ).dt.tz_convert("UTC")


class OlistSource:
    """A folder of the public Olist CSV files (the full release or a partial copy)."""

    name = "olist"
    description = "Olist orders (Brazilian e-commerce), public Kaggle file names"
    defaults = OLIST_DEFAULTS

    def load(
        self,
        location: Path | None,
        weather_csv: Path | None = None,
        progress: Progress | None = None,
    ) -> SourceData:
        """Import the orders at `location`, with INMET weather joined by state if given."""
        if location is None:
            raise ValueError("--source olist needs --data DIR (a folder of Olist CSV files)")
        if progress:
            progress(f"importing Olist orders from {location}")
        tables, report = read_olist(location, weather_csv)
        extra = [weather_csv] if weather_csv else []
        return SourceData(
            tables=tables,
            location=location,
            fingerprint=fingerprint(location, "*.csv", extra),
            import_report=report.table(),
        )
