"""Order family: what was bought and how it was paid (value, payment type, installments).

Static per shipment, known at creation. A payment that clears slowly (a bank slip, many
installments awaiting approval) holds the parcel before it ever reaches the carrier. Sources
without these attributes leave them missing, which the models read as "unknown".
"""

from __future__ import annotations

import numpy as np

from features.snapshots import Columns, Snapshots


def order_features(snap: Snapshots) -> Columns:
    """Order columns for every snapshot."""
    return {
        "order_value": snap.column("declared_value").astype(float),
        "order_payment_type": np.asarray(snap.column("payment_type"), dtype=object),
        "order_installments": snap.column("payment_installments").astype(float),
    }
