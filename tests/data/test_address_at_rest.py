"""A store that keeps derived address values instead of the text scores exactly the same."""

import numpy as np
import pandas as pd
import pytest

from contract.tables import Tables
from contract.validation import validate
from features.address import address_quality
from features.build import build_features

pytestmark = pytest.mark.data


def _stripped(tables: Tables) -> Tables:
    """The tables as a PII-free store holds them: no address or phone, their derived values."""
    ships = tables.shipments.assign(dest_address=None, recipient_phone=None)
    return tables.replace(shipments=ships, address_quality=address_quality(tables.shipments))


def test_features_from_stored_address_quality_equal_features_from_the_text(small_data):
    tables = small_data.tables
    ships = tables.shipments.sample(600, random_state=1)
    snaps = pd.DataFrame(
        {
            "shipment_id": ships["shipment_id"].to_numpy(),
            "as_of": (ships["created_at"] + pd.Timedelta(hours=7)).to_numpy(),
        }
    )
    from_text = build_features(tables, snaps)
    from_store = build_features(_stripped(tables), snaps)
    pd.testing.assert_frame_equal(from_text, from_store)
    assert from_text.filter(like="addr_").notna().to_numpy().any()  # the values are real


def test_address_quality_is_a_valid_contract_table(small_data):
    stripped = _stripped(small_data.tables)
    result = validate(stripped)
    assert result.ok, result.summary()
    assert len(result.tables.address_quality) == len(stripped.shipments)
    assert not np.isin(
        small_data.tables.shipments["dest_address"].dropna().to_numpy(),
        result.tables.address_quality.to_numpy().ravel(),
    ).any()
