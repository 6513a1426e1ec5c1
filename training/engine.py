"""Where the batch stages run: in this process, or on a cluster (the `scale` package).

An `Engine` builds the cross-shipment context, the features of many snapshots, trains a
booster and scores the parcels in flight. `LOCAL` does each in this process with the
functions the rest of the code calls directly; a distributed engine must return the same
values (docs/scale.md lists how close, and the tests that hold it there).

Booster training is reached deep inside the models (`RiskModel`, `EtaModel`, cross-fitting),
so the engine that trains them is the active one (`running_on`), not an argument threaded
through every call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd

from contract.tables import Tables
from features.build import build_features
from features.context import Context, build_context


class Engine(Protocol):
    """The batch stages, run somewhere."""

    name: str

    def context(self, tables: Tables, as_of: pd.Timestamp | None = None) -> Context:
        """`features.context.build_context` of `tables`."""
        ...

    def features(
        self, tables: Tables, snapshots: pd.DataFrame, context: Context | None = None
    ) -> pd.DataFrame:
        """`features.build.build_features` of `snapshots` (in their order)."""
        ...

    def train_booster(
        self,
        params: dict[str, Any],
        train: tuple[pd.DataFrame, np.ndarray],
        rounds: int,
        valid: tuple[pd.DataFrame, np.ndarray] | None = None,
        stopping_rounds: int = 0,
    ) -> lgb.Booster:
        """`lgb.train` for `rounds` rounds, early-stopped on `valid` when given."""
        ...


class LocalEngine:
    """Every stage in this process."""

    name = "local"

    def context(self, tables: Tables, as_of: pd.Timestamp | None = None) -> Context:
        """`build_context` here."""
        return build_context(tables, as_of=as_of)

    def features(
        self, tables: Tables, snapshots: pd.DataFrame, context: Context | None = None
    ) -> pd.DataFrame:
        """`build_features` here."""
        return build_features(tables, snapshots, context)

    def train_booster(
        self,
        params: dict[str, Any],
        train: tuple[pd.DataFrame, np.ndarray],
        rounds: int,
        valid: tuple[pd.DataFrame, np.ndarray] | None = None,
        stopping_rounds: int = 0,
    ) -> lgb.Booster:
        """`lgb.train` here."""
        data = lgb.Dataset(train[0], train[1], free_raw_data=True)
        if valid is None:
            return lgb.train(params, data, num_boost_round=rounds)
        held = lgb.Dataset(valid[0], valid[1], reference=data, free_raw_data=True)
        return lgb.train(
            params,
            data,
            num_boost_round=rounds,
            valid_sets=[held],
            callbacks=[lgb.early_stopping(stopping_rounds, verbose=False)],
        )


LOCAL = LocalEngine()
_ACTIVE: ContextVar[Engine] = ContextVar("stallguard_engine", default=LOCAL)


def active() -> Engine:
    """The engine boosters are trained on now."""
    return _ACTIVE.get()


@contextmanager
def running_on(engine: Engine) -> Iterator[Engine]:
    """Train boosters on `engine` inside the block."""
    token = _ACTIVE.set(engine)
    try:
        yield engine
    finally:
        _ACTIVE.reset(token)
