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

import dataclasses
from collections.abc import Callable
from functools import reduce
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, Future, get_worker

from contract.tables import Tables
from features.build import as_categorical, build_features
from features.catalog import FEATURES
from features.context import Bounds, Context, Span, build_context, merge_contexts
from features.family import Columns
from scale.boosting import DaskBoosting
from scale.partitions import PartitionedTables, split
from training.compiled import limit_threads
from training.predictor import Predictor
from training.scoring import score_with_features

_CATEGORICAL = [f.name for f in FEATURES if f.kind == "category"]


class DaskEngine:
    """Context, features, boosters and scoring on the cluster behind `client`.

    Args:
        client: A connected Dask client (scale/cluster.py).
        partitions: Partitions to cut in-memory tables into (default: two per worker).
        boosting: How boosters are trained there.
        tree_cache: Where workers find (or compile, in the background) the model's compiled
            trees (training/compiled.py); None: they score with LightGBM.
    """

    name = "dask"

    def __init__(
        self,
        client: Client,
        partitions: int | None = None,
        boosting: DaskBoosting | None = None,
        tree_cache: Path | None = None,
    ) -> None:
        self.client = client
        workers = len(client.scheduler_info()["workers"]) or 1
        self.partitions = partitions or 2 * workers
        self.boosting = boosting or DaskBoosting()
        self.tree_cache = tree_cache
        # The partitions of the last source: training reuses them, a watch pass replaces them.
        self._loaded: tuple[object, list[Future], list[np.ndarray]] | None = None
        # The last predictor sent, kept there: its compiled trees load once per worker.
        self._sent: tuple[Predictor, Future] | None = None

    # --- data on the workers ----------------------------------------------------------------

    def load(self, source: Tables | PartitionedTables) -> list[Future]:
        """The partitions of `source` on the workers (read there when partitioned on disk)."""
        return self._parts(source)[0]

    def _parts(self, source: Tables | PartitionedTables) -> tuple[list[Future], list[np.ndarray]]:
        """(futures of the partitions, shipment ids of each), cached per source object."""
        if self._loaded is not None and self._loaded[0] is source:
            return self._loaded[1], self._loaded[2]
        if isinstance(source, PartitionedTables):
            parts = [self.client.submit(source.read, k, pure=False) for k in range(source.parts)]
            ids = self.client.gather(self.client.map(_shipment_ids, parts))
        else:
            pieces = split(source, self.partitions)
            ids = [p.shipments["shipment_id"].astype("str").to_numpy() for p in pieces]
            parts = self.client.scatter(pieces, hash=False)
        self._loaded = (source, parts, ids)
        return parts, ids

    def _send(self, predictor: Predictor) -> Future:
        """`predictor` on every worker (without its bundled context: they get a fresh one)."""
        if self._sent is None or self._sent[0] is not predictor:
            copy = _without_context(predictor)
            self._sent = (predictor, self.client.scatter(copy, broadcast=True, hash=False))
        return self._sent[1]

    # --- the stages -------------------------------------------------------------------------

    def bounds(
        self, tables: Tables | PartitionedTables, as_of: pd.Timestamp | None = None
    ) -> Bounds:
        """The earliest and latest times in `tables` (cut at `as_of`), from every partition."""
        parts, _ = self._parts(tables)
        found = self.client.gather(self.client.map(Bounds.known_at, parts, as_of=as_of, pure=False))
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
        context = context if context is not None else self.context(tables)
        frames, rows = self._by_partition(build_features, tables, snapshots, context)
        return _in_order(frames, rows, categorical=_CATEGORICAL)

    def predict(
        self,
        predictor: Predictor,
        tables: Tables | PartitionedTables,
        snapshots: pd.DataFrame,
        context: Context | None = None,
    ) -> pd.DataFrame:
        """`predictor.predict(tables, snapshots, context)`, partition by partition."""
        context = context if context is not None else self.context(tables)
        model = self._send(predictor)
        frames, rows = self._by_partition(
            _predict_part, tables, snapshots, context, model, self.tree_cache
        )
        return _in_order(frames, rows)

    def _by_partition(
        self,
        work: Callable[..., pd.DataFrame],
        tables: Tables | PartitionedTables,
        snapshots: pd.DataFrame,
        context: Context,
        *extra: Any,
    ) -> tuple[list[pd.DataFrame], list[np.ndarray]]:
        """`work(part, its snapshots, context, *extra)` per partition, and each one's rows."""
        parts, ids = self._parts(tables)
        which = _partition_of(snapshots["shipment_id"], ids)
        if (which < 0).any():
            unknown = snapshots["shipment_id"].to_numpy()[which < 0][0]
            raise ValueError(f"snapshot of unknown shipment {unknown!r}")
        shared = self.client.scatter(context, broadcast=True, hash=False)
        rows, futures = [], []
        for k, part in enumerate(parts):
            mine = np.flatnonzero(which == k)
            if len(mine):
                rows.append(mine)
                # Sent as data, not inside the task: a million snapshots would swell the graph.
                piece = self.client.scatter(snapshots.iloc[mine].reset_index(drop=True), hash=False)
                futures.append(self.client.submit(work, part, piece, shared, *extra, pure=False))
        return self.client.gather(futures), rows

    def score(
        self,
        predictor: Predictor,
        tables: Tables | PartitionedTables,
        now: pd.Timestamp,
        lang: str = "en",
    ) -> pd.DataFrame:
        """`training.scoring.score`: every parcel in flight at `now`, by risk."""
        return self.score_with_features(predictor, tables, now, lang=lang)[0]

    def score_with_features(
        self,
        predictor: Predictor,
        tables: Tables | PartitionedTables,
        now: pd.Timestamp,
        context: Context | None = None,
        lang: str = "en",
    ) -> tuple[pd.DataFrame, Columns]:
        """`training.scoring.score_with_features`: the ranking, and the features in flight order."""
        parts, _ = self._parts(tables)
        context = context if context is not None else self.context(tables, as_of=now)
        model = self._send(predictor)
        shared = self.client.scatter(context, broadcast=True, hash=False)
        futures = self.client.map(
            _score_part,
            parts,
            predictor=model,
            now=now,
            context=shared,
            lang=lang,
            tree_cache=self.tree_cache,
            pure=False,
        )
        done = [(s, c) for s, c in self.client.gather(futures) if len(s)]
        if not done:
            return pd.DataFrame(columns=["shipment_id", "risk"]), {}
        # Parts hold the shipments in table order: concatenated in flight order, one stable
        # ranking gives the order (ties included) one process gives.
        out = pd.concat([s for s, _ in done], ignore_index=True)
        columns = {k: np.concatenate([c[k] for _, c in done]) for k in done[0][1]}
        order = np.argsort(-out["risk"].to_numpy(), kind="stable")
        return out.iloc[order].reset_index(drop=True), columns

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


def _partition_of(shipment_ids: pd.Series, ids: list[np.ndarray]) -> np.ndarray:
    """Partition of each snapshot's shipment (-1: in none)."""
    index = pd.Index(np.concatenate(ids)) if ids else pd.Index([])
    part = np.concatenate([np.full(len(k), n) for n, k in enumerate(ids)]) if ids else np.array([])
    position = index.get_indexer(shipment_ids.astype("str").to_numpy())
    return np.where(position >= 0, part[np.maximum(position, 0)], -1).astype(np.int64)


def _in_order(
    frames: list[pd.DataFrame], rows: list[np.ndarray], categorical: list[str] | None = None
) -> pd.DataFrame:
    """The partitions' rows back in snapshot order.

    `categorical` columns are made again as one process makes them: categories in the order
    they first appear.
    """
    if not frames:
        raise ValueError("no snapshots to work on")
    out = pd.concat(frames, ignore_index=True)
    out.index = np.concatenate(rows)
    out = out.sort_index().reset_index(drop=True)
    for name in categorical or []:
        values = out[name].astype(object).where(out[name].notna(), None).to_numpy()
        out[name] = as_categorical(values)
    return out


def _without_context(predictor: Predictor) -> Predictor:
    """`predictor` to send to workers: its bundled context stays (they get the fresh one)."""
    return dataclasses.replace(predictor, context=None)


# Predictors whose compiled trees this worker process has started loading (or compiling).
_COMPILING: set[int] = set()


def _with_trees(predictor: Predictor, cache: Path | None) -> Predictor:
    """The worker's copy of `predictor`, its compiled trees loading in the background once.

    The trees then use the worker's threads, not every core of the machine it shares.
    """
    limit_threads(get_worker().state.nthreads)
    if cache is not None and id(predictor) not in _COMPILING:
        _COMPILING.add(id(predictor))
        predictor.compile_trees(cache, background=True)
    return predictor


def _predict_part(
    part: Tables,
    snapshots: pd.DataFrame,
    context: Context,
    predictor: Predictor,
    cache: Path | None,
) -> pd.DataFrame:
    return _with_trees(predictor, cache).predict(part, snapshots, context)


def _score_part(
    part: Tables,
    predictor: Predictor,
    now: pd.Timestamp,
    context: Context,
    lang: str,
    tree_cache: Path | None,
) -> tuple[pd.DataFrame, Columns]:
    """One partition's scores in flight order (where ranking starts), and its features."""
    model = _with_trees(predictor, tree_cache)
    scores, columns = score_with_features(model, part, now, context, lang)
    if not len(scores):
        return scores, columns
    order = pd.Index(part.shipments["shipment_id"]).get_indexer(scores["shipment_id"])
    return scores.iloc[np.argsort(order, kind="stable")].reset_index(drop=True), columns
