"""A Dask client: on an existing scheduler, or on a LocalCluster sized to this machine."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A client for the block, and the local cluster it started, if any, shut down after.

    Args:
        scheduler: Address of a running scheduler (`tcp://host:8786`); None starts a
            LocalCluster of `workers` processes (default: one per core), one thread each
            (LightGBM and the feature code use the core themselves).
        workers: Worker processes of the local cluster.
    """
    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    # distributed logs every worker's start and stop at INFO: noise on a command line.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: two clusters on one host never clash
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
