"""The engine a command's batch work runs on (`--engine`, `--scheduler`, `--workers`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cli.render import console, fail

if TYPE_CHECKING:
    from training.engine import Engine


@contextmanager
def open_engine(
    name: str,
    scheduler: str | None = None,
    workers: int | None = None,
    tree_cache: Path | None = None,
) -> Iterator[Engine]:
    """The engine for the block: this process, or a Dask cluster.

    Without a scheduler, a local cluster is started for the block and stopped after it.
    `tree_cache`: where Dask workers load the model's compiled trees from (None: LightGBM).
    """
    if name == "local":
        if scheduler or workers:
            fail("--scheduler and --workers need --engine dask")
        from training.engine import LOCAL

        yield LOCAL
        return
    from scale.cluster import dask_client
    from scale.engine import DaskEngine

    where = scheduler or "a local cluster"
    with ExitStack() as stack:
        try:
            with console.status(f"starting the Dask client on {where}"):
                client = stack.enter_context(dask_client(scheduler, workers))
        except OSError as err:  # no scheduler at that address
            fail(f"cannot reach the Dask scheduler at {scheduler}: {err}")
        workers_now = len(client.scheduler_info()["workers"])
        console.print(f"[dim]dask: {workers_now} workers on {where}[/]")
        yield DaskEngine(client, tree_cache=tree_cache)
