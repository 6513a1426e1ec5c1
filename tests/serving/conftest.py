"""Serving fixtures: request bodies (the champion and its store are in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def in_flight(small_data):
    """(ids, as_of): parcels in flight, not yet late, three days before the data's end."""
    import pandas as pd

    from training.scoring import in_flight as flying

    now = small_data.now - pd.Timedelta(days=3)
    ships = flying(small_data.tables, now)
    return ships.loc[ships["promised_at"] > now, "shipment_id"].tolist(), now


@pytest.fixture()
def body(small_data, in_flight):
    """Request bodies: `body(n)` gives n shipments as a client sends them."""
    from cli.demo.payloads import shipment_payloads

    ids, now = in_flight

    def make(n: int, start: int = 0) -> list[dict]:
        return shipment_payloads(small_data.tables, ids[start : start + n], now)

    return make
