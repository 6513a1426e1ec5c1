from pathlib import Path

import pytest

from features.catalog import FAMILIES, FEATURES

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_every_feature_is_documented_with_its_family_and_rule():
    text = DOC.read_text()
    for f in FEATURES:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{f.name}` |")), None)
        assert row is not None, f"{f.name} missing from docs/features.md"
        assert f.point_in_time in row


def test_every_feature_belongs_to_a_known_family_and_names_are_unique():
    assert {f.family for f in FEATURES} == set(FAMILIES)
    assert len({f.name for f in FEATURES}) == len(FEATURES)
