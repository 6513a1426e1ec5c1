"""The batch stages on a Dask cluster: the same functions, run per partition by shipment.

- Context: each partition's shipments give their share of every cross-shipment sum over
  the whole data's `Span` (agreed by a reduction of the partitions' time bounds); the shares
  are merged pairwise on the workers (`features.context.merge_contexts`).
- Features: `build_features` on each partition's snapshots with the merged context, sent
  to every worker once; the rows come back in the snapshots' order with the categories in
  the order one process gives them.
- Scoring: `training.scoring.score_with_features` on each partition, then one ranking.
- Boosters: `lightgbm.dask` (scale/boosting.py).

docs/scale.md has the equality each stage is tested to and what stays on the client.
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, Future

from contract.tables import Tables
from features.build import as_categorical, build_features
from features.catalog import FEATURES
from features.context import Bounds, Context, Span, build_context, known_at, merge_contexts
from scale.boosting import DaskBoosting
from scale.partitions import PartitionedTables, split
from training.predictor import Predictor
from training.scoring import score_with_features

_CATEGORICAL = [f.name for f in FEATURES if f.kind == "category"]


class DaskEngine:
    """Context, features, boosters and scoring on the cluster behind `client`.

    Args:
        client: A connected Dask client (scale/cluster.py).
        partitions: Partitions to cut in-memory tables into (default: two per worker).
        boosting: How boosters are trained there.
    """

    name = "dask"

    def __init__(
        self, client: Client, partitions: int | None = None, boosting: DaskBoosting | None = None
    ) -> None:
        self.client = client
        workers = len(client.scheduler_info()["workers"]) or 1
        self.partitions = partitions or 2 * workers
        self.boosting = boosting or DaskBoosting()
        self._loaded: dict[int, tuple[Tables, list[Future], list[np.ndarray]]] = {}

    # --- data on the workers ----------------------------------------------------------------

    def load(self, source: Tables | PartitionedTables) -> list[Future]:
        """The partitions of `source` on the workers (read there when partitioned on disk)."""
        return self._parts(source)[0]

    def _parts(self, source: Tables | PartitionedTables) -> tuple[list[Future], list[np.ndarray]]:
        """(futures of the partitions, shipment ids of each), cached per source object."""
        cached = self._loaded.get(id(source))
        if cached is not None and cached[0] is source:
            return cached[1], cached[2]
        if isinstance(source, PartitionedTables):
            parts = [self.client.submit(source.read, k, pure=False) for k in range(source.parts)]
            ids = self.client.gather(self.client.map(_shipment_ids, parts))
        else:
            pieces = split(source, self.partitions)
            ids = [p.shipments["shipment_id"].astype("str").to_numpy() for p in pieces]
            parts = self.client.scatter(pieces)
        self._loaded[id(source)] = (source, parts, ids)  # type: ignore[assignment]
        return parts, ids

    # --- the stages -------------------------------------------------------------------------

    def bounds(
        self, tables: Tables | PartitionedTables, as_of: pd.Timestamp | None = None
    ) -> Bounds:
        """The earliest and latest times in `tables` (cut at `as_of`), from every partition."""
        parts, _ = self._parts(tables)
        found = self.client.gather(self.client.map(_bounds, parts, as_of=as_of, pure=False))
        return reduce(Bounds.combine, found)

    def context(
        self, tables: Tables | PartitionedTables, as_of: pd.Timestamp | None = None
    ) -> Context:
        """`build_context(tables, as_of)`, summed over the partitions."""
        parts, _ = self._parts(tables)
        span = Span.of(self.bounds(tables, as_of), as_of)
        shares = self.client.map(build_context, parts, as_of=as_of, span=span, pure=False)
        while len(shares) > 1:  # pairwise on the workers: the client never holds them all
            pairs = [shares[k : k + 2] for k in range(0, len(shares), 2)]
            shares = [
                self.client.submit(merge_contexts, pair, pure=False) if len(pair) == 2 else pair[0]
                for pair in pairs
            ]
        return shares[0].result()

    def features(
        self,
        tables: Tables | PartitionedTables,
        snapshots: pd.DataFrame,
        context: Context | None = None,
    ) -> pd.DataFrame:
        """`build_features(tables, snapshots, context)`, partition by partition."""
        parts, ids = self._parts(tables)
        context = context if context is not None else self.context(tables)
        which = _partition_of(snapshots["shipment_id"], ids)
        if (which < 0).any():
            unknown = snapshots["shipment_id"].to_numpy()[which < 0][0]
            raise ValueError(f"snapshot of unknown shipment {unknown!r}")
        shared = self.client.scatter(context, broadcast=True)
        rows, futures = [], []
        for k, part in enumerate(parts):
            mine = np.flatnonzero(which == k)
            if len(mine):
                rows.append(mine)
                piece = snapshots.iloc[mine].reset_index(drop=True)
                futures.append(self.client.submit(build_features, part, piece, shared, pure=False))
        frames = self.client.gather(futures)
        return _in_order(frames, rows, len(snapshots))

    def score(
        self,
        predictor: Predictor,
        tables: Tables | PartitionedTables,
        now: pd.Timestamp,
        lang: str = "en",
    ) -> pd.DataFrame:
        """`training.scoring.score`: every parcel in flight at `now`, by risk."""
        parts, _ = self._parts(tables)
        context = self.context(tables, as_of=now)
        model = self.client.scatter(predictor, broadcast=True)
        shared = self.client.scatter(context, broadcast=True)
        futures = self.client.map(
            _score_part, parts, predictor=model, now=now, context=shared, lang=lang, pure=False
        )
        frames = [f for f in self.client.gather(futures) if len(f)]
        if not frames:
            return pd.DataFrame(columns=["shipment_id", "risk"])
        # Parts hold the shipments in table order: concatenated in flight order, one stable
        # ranking gives the order (ties included) one process gives.
        out = pd.concat(frames, ignore_index=True)
        order = np.argsort(-out["risk"].to_numpy(), kind="stable")
        return out.iloc[order].reset_index(drop=True)

    def train_booster(
        self,
        params: dict[str, Any],
        train: tuple[pd.DataFrame, np.ndarray],
        rounds: int,
        valid: tuple[pd.DataFrame, np.ndarray] | None = None,
        stopping_rounds: int = 0,
    ) -> lgb.Booster:
        """`lgb.train` on the cluster (scale/boosting.py)."""
        return self.boosting.train(self.client, params, train, rounds, valid, stopping_rounds)


def _shipment_ids(part: Tables) -> np.ndarray:
    return part.shipments["shipment_id"].astype("str").to_numpy()


def _bounds(part: Tables, as_of: pd.Timestamp | None) -> Bounds:
    known = known_at(part, as_of) if as_of is not None else part
    return Bounds.of(known.shipments, known.scan_events)


def _partition_of(shipment_ids: pd.Series, ids: list[np.ndarray]) -> np.ndarray:
    """Partition of each snapshot's shipment (-1: in none)."""
    index = pd.Index(np.concatenate(ids)) if ids else pd.Index([])
    part = np.concatenate([np.full(len(k), n) for n, k in enumerate(ids)]) if ids else np.array([])
    position = index.get_indexer(shipment_ids.astype("str").to_numpy())
    return np.where(position >= 0, part[np.maximum(position, 0)], -1).astype(np.int64)


def _in_order(frames: list[pd.DataFrame], rows: list[np.ndarray], n: int) -> pd.DataFrame:
    """The partitions' feature rows back in snapshot order, categories as one process has them."""
    if not frames:
        return _no_features()
    out = pd.concat(frames, ignore_index=True)
    out.index = np.concatenate(rows)
    out = out.sort_index().reset_index(drop=True)
    for name in _CATEGORICAL:
        values = out[name].astype(object).where(out[name].notna(), None).to_numpy()
        out[name] = as_categorical(values)
    return out


def _no_features() -> pd.DataFrame:
    """The feature frame of no snapshots."""
    return pd.DataFrame({f.name: pd.Series([], dtype="float64") for f in FEATURES})


def _score_part(
    part: Tables, predictor: Predictor, now: pd.Timestamp, context: Context, lang: str
) -> pd.DataFrame:
    """One partition's scores, in flight order (the order ranking starts from)."""
    scores, _ = score_with_features(predictor, part, now, context, lang)
    if not len(scores):
        return scores
    order = pd.Index(part.shipments["shipment_id"]).get_indexer(scores["shipment_id"])
    return scores.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
