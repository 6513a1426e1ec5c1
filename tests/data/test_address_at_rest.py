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


def test_a_store_with_and_without_the_text_scores_each_parcel_as_its_own_source(small_data):
    ships = small_data.tables.shipments.sample(600, random_state=2).reset_index(drop=True)
    events = small_data.tables.scan_events
    tables = small_data.tables.replace(
        shipments=ships, scan_events=events[events["shipment_id"].isin(ships["shipment_id"])]
    )
    snaps = pd.DataFrame(
        {"shipment_id": ships["shipment_id"].to_numpy(), "as_of": ships["created_at"].to_numpy()}
    )
    # Thirds: the text kept; stripped with a stored row; stripped with none (scored as bare).
    third = np.arange(len(ships)) % 3
    mixed = ships.assign(
        dest_address=ships["dest_address"].where(third == 0),
        recipient_phone=ships["recipient_phone"].where(third == 0),
    )
    stored = address_quality(ships)[third == 1]
    got = build_features(tables.replace(shipments=mixed, address_quality=stored), snaps)
    from_text = build_features(tables, snaps)
    bare = build_features(_stripped(tables).replace(address_quality=stored.iloc[:0]), snaps)
    addr = [c for c in got.columns if c.startswith("addr_")]
    want = from_text[addr].copy()
    want.loc[third == 2, addr] = bare.loc[third == 2, addr]
    pd.testing.assert_frame_equal(got[addr], want)
    assert not got[addr].equals(bare[addr]) and not got[addr].equals(from_text[addr])
