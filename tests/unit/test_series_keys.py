"""Series keys: the sorted distinct texts `np.unique` gives, found by hashing instead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.series import sorted_keys

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sorted_keys_equal_np_unique(seed: int) -> None:
    rng = np.random.default_rng(seed)
    words = np.array(["HUB_IN", "d:서울", "o:Jeju", "*", "nan", "a>b", "A>b", "", "z" * 30])
    values = rng.choice(words, size=int(rng.integers(1, 5000))).astype(object)
    extra = rng.choice(words, size=3).astype(str)
    got = sorted_keys(values, extra, ["*"])
    want = pd.Index(np.unique(np.concatenate([values, extra, ["*"]]).astype(str)))
    assert list(got) == list(want)
    assert got.get_indexer(values).tolist() == want.get_indexer(values).tolist()
