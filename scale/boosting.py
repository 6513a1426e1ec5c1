"""LightGBM boosters trained on a Dask cluster (`lightgbm.dask`), as `lgb.train` would.

What `lightgbm.dask` leaves to its caller, and how it is handled here:

- Early stopping is not supported on Dask. The booster is trained for every round, then the
  validation loss is computed after each round on the validation rows here (one tree at a
  time) and the booster is cut at the round LightGBM's own early stopping would have kept
  (same metric, same patience): the saved model is the same shape as a local one.
- Categories: each worker would encode its own partition's categories. The rows are encoded
  here once with LightGBM's own pandas encoding, and the booster is given the category lists,
  so it predicts on pandas frames exactly like a locally trained one.
- Ports: each worker listens on a port set here, not found at random (random ports have
  collided on busy hosts): `base_port` + the fit's slot x workers + the worker's position
  among those training. The slot moves on with every fit, over `PORT_SLOTS` slots, because
  LightGBM does not reuse an address a previous fit's socket still holds in TIME_WAIT (a
  minute on Linux), and a slot is taken only once every worker could bind its port.
- One fit at a time per cluster: a distributed lock (several fits sharing workers hang).
- Hangs: LightGBM's network time-out and a wall-clock limit on the whole fit raise a
  `TimeoutError` that says what to check.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import warnings
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import dask.array as da
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, Lock, Worker
from lightgbm.basic import _data_from_pandas
from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

LOCK_NAME = "stallguard-lightgbm-fit"
PORT_SLOTS = 32
# Started by process id: consecutive processes (a test run, then a command) use other slots.
_fits = itertools.count(os.getpid())


@dataclass(frozen=True)
class DaskBoosting:
    """How boosters are trained on the cluster.

    Attributes:
        base_port: First of the workers' LightGBM ports (one per worker, consecutive).
        timeout_s: Longest a fit may take before it is abandoned with an error.
    """

    base_port: int = 12_400
    timeout_s: float = 3_600.0

    def train(
        self,
        client: Client,
        params: dict[str, Any],
        train: tuple[pd.DataFrame, np.ndarray],
        rounds: int,
        valid: tuple[pd.DataFrame, np.ndarray] | None = None,
        stopping_rounds: int = 0,
    ) -> lgb.Booster:
        """`lgb.train(params, train, rounds)` on the cluster, early-stopped on `valid`."""
        x, y = train
        matrix, names, categorical, categories = _data_from_pandas(x, "auto", "auto", None)
        # A categorical column with no value at all (Olist-less worlds have no payment type)
        # kills distributed LightGBM's bin finding; as a number it is the same unused column.
        categorical = [str(c) for c in categorical if x[c].notna().any()]
        with Lock(LOCK_NAME):  # the scheduler of the default client: `client`
            booster = self._fit(
                client, params, matrix, np.asarray(y, float), rounds, names, categorical
            )
        booster.pandas_categorical = categories
        if valid is None or stopping_rounds <= 0:
            return booster
        held, _, _, _ = _data_from_pandas(valid[0], "auto", "auto", categories)
        best = stopping_round(booster, held, np.asarray(valid[1], float), params, stopping_rounds)
        cut = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        cut.best_iteration = best
        return cut

    def _free_ports(self, client: Client, workers: list[str]) -> dict[str, int]:
        """A port per worker from the next slot whose ports every worker can listen on."""
        for _ in range(PORT_SLOTS):
            first = self.base_port + (next(_fits) % PORT_SLOTS) * len(workers)
            ports = {w: first + k for k, w in enumerate(workers)}
            if all(client.run(_bindable, ports, workers=workers).values()):
                return ports
        raise RuntimeError(
            f"no free LightGBM ports on the workers in {self.base_port}-"
            f"{self.base_port + PORT_SLOTS * len(workers) - 1}: another fit holds them, or "
            "a firewall does (DaskBoosting.base_port moves the range)"
        )

    def _fit(
        self,
        client: Client,
        params: dict[str, Any],
        matrix: np.ndarray,
        y: np.ndarray,
        rounds: int,
        names: list[str],
        categorical: list[str],
    ) -> lgb.Booster:
        workers = sorted(client.scheduler_info()["workers"])
        # One block of rows per worker, sent to it: every worker trains, each on a port known
        # before the fit (and no data rides in the task graph).
        blocks = [b for b in np.array_split(np.arange(len(matrix)), len(workers)) if len(b)]
        x_blocks, y_blocks = [], []
        for block, worker in zip(blocks, workers, strict=False):
            x_future = client.scatter(matrix[block], workers=[worker])
            y_future = client.scatter(y[block], workers=[worker])
            x_blocks.append(da.from_delayed(x_future, (len(block), matrix.shape[1]), float))
            y_blocks.append(da.from_delayed(y_future, (len(block),), float))
        x_parts, y_parts = da.concatenate(x_blocks), da.concatenate(y_blocks)
        training = workers[: len(blocks)]
        ports = self._free_ports(client, training)
        machines = ",".join(f"{urlparse(w).hostname}:{ports[w]}" for w in training)
        objective = params.get("objective")
        settings = {k: v for k, v in params.items() if k != "num_threads"}
        settings["time_out"] = max(1, math.ceil(self.timeout_s / 60))  # LightGBM: minutes
        model_class = DaskLGBMClassifier if objective == "binary" else DaskLGBMRegressor
        model = model_class(client=client, n_estimators=rounds, machines=machines, **settings)

        def fit() -> lgb.Booster:
            with warnings.catch_warnings():
                # lightgbm.dask sets the threads per worker itself, and says so for the
                # estimator's own n_jobs on every fit.
                warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
                model.fit(x_parts, y_parts, feature_name=names, categorical_feature=categorical)
            return model.booster_

        with ThreadPoolExecutor(1) as pool:
            try:
                return pool.submit(fit).result(timeout=self.timeout_s)
            except FutureTimeout as err:
                raise TimeoutError(
                    f"LightGBM on Dask did not finish in {self.timeout_s:.0f} s: check that "
                    f"the workers can reach each other on ports {self.base_port}-"
                    f"{self.base_port + PORT_SLOTS * len(workers) - 1} and that no worker "
                    "died (the scheduler's log)"
                ) from err


def _bindable(ports: dict[str, int], dask_worker: Worker) -> bool:
    """On a worker (client.run passes it): whether its port in `ports` can be listened on."""
    port = ports.get(dask_worker.address)
    if port is None:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("", port))
        except OSError:
            return False
    return True


def stopping_round(
    booster: lgb.Booster,
    matrix: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    stopping_rounds: int,
) -> int:
    """The round LightGBM's early stopping keeps: the best validation loss, given patience.

    Losses are LightGBM's default metric of the objective (binary log-loss, or the pinball
    loss at `alpha`), computed after each round from the trees' raw outputs.
    """
    raw = np.zeros(len(matrix))
    best, best_round = math.inf, 0
    for tree in range(booster.num_trees()):
        raw += booster.predict(matrix, start_iteration=tree, num_iteration=1, raw_score=True)
        loss = _loss(raw, y, params)
        if loss < best:
            best, best_round = loss, tree + 1
        elif tree + 1 - best_round >= stopping_rounds:
            break
    return max(best_round, 1)


def _loss(raw: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> float:
    if params.get("objective") == "binary":
        p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    alpha = float(params.get("alpha", 0.5))
    diff = y - raw
    return float(np.mean(np.maximum(alpha * diff, (alpha - 1) * diff)))
