"""The risk model's depth cap reaches LightGBM (TreeSHAP cost grows with depth squared)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from training.config import RISK_PARAMS, TrainConfig
from training.models import fit_booster


def _depth(node: dict[str, Any]) -> int:
    if "leaf_index" in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def _max_depth(params) -> int:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(20_000, 8)), columns=[f"f{k}" for k in range(8)])
    # A label that rewards deep, lopsided trees: many thresholds on a few features.
    y = (np.sin(3 * x["f0"]) + np.cos(5 * x["f1"]) * x["f2"] + rng.normal(0, 0.3, len(x))) > 0
    quick = dataclasses.replace(params, n_rounds=20, min_child_samples=5)
    booster = fit_booster(quick, {"objective": "binary"}, x, y.to_numpy(), x, y.to_numpy())
    return max(_depth(t["tree_structure"]) for t in booster.dump_model()["tree_info"])


def test_default_risk_trees_stay_within_depth_six():
    assert TrainConfig().params == RISK_PARAMS
    assert RISK_PARAMS.max_depth == 6
    assert _max_depth(RISK_PARAMS) <= 6


def test_unbounded_trees_go_deeper_on_the_same_data():
    # Without the cap the same leaves make deeper trees: the cap is what holds them.
    assert _max_depth(dataclasses.replace(RISK_PARAMS, max_depth=-1)) > 6
