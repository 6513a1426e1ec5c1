"""Order family: what was bought and how it was paid (value, payment type, installments).

Static per shipment, known at creation. A payment that clears slowly (a bank slip, many
installments awaiting approval) holds the parcel before it ever reaches the carrier. Sources
without these attributes leave them missing, which the models read as "unknown".
"""

from __future__ import annotations

import numpy as np

from contract.tables import Tables
from features.family import STATIC, Family, feature
from features.series import Context
from features.snapshots import Columns, Snapshots

NAME = "order"


def order_features(snap: Snapshots) -> Columns:
    """Order columns for every snapshot."""
    return {
        "order_value": snap.column("declared_value").astype(float),
        "order_payment_type": np.asarray(snap.column("payment_type"), dtype=object),
        "order_installments": snap.column("payment_installments").astype(float),
    }


def _compute(snap: Snapshots, tables: Tables, context: Context, done: Columns) -> Columns:
    return order_features(snap)


FEATURES = (
    feature(
        "order_value", NAME, "Declared value of the goods (the order's payment total).", STATIC
    ),
    feature("order_payment_type", NAME, "How the order was paid.", STATIC, "category"),
    feature("order_installments", NAME, "Installments the payment is split into.", STATIC),
)

FAMILY = Family(NAME, "ORDER", FEATURES, _compute)
