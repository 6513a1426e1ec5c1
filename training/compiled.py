"""The boosters compiled to machine code: the same trees, scored about five times faster.

LightGBM walks its trees through a general interpreter. lleaves compiles a model's text into
one native function per booster (LLVM) that returns the same raw scores, up to the rounding
of the sum over the trees (tests/unit/test_compiled.py holds the two within 1e-9 on random
matrices, missing values and unseen categories included). docs/model.md "Compiled trees" has
the measurements.

Compiling costs tens of seconds per booster, so the object code is cached on disk, named by a
digest of the model text, the compiler's versions and the host CPU (the code is specialised
to it): a machine compiles a model once. `Trees.ready` tells whether the compiled code is in
use; until then, and wherever lleaves is missing or fails, the booster itself scores.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from importlib import metadata
from pathlib import Path

import lightgbm as lgb
import numpy as np

log = logging.getLogger("stallguard.trees")

DEFAULT_CACHE = Path.home() / ".cache" / "stallguard" / "trees"
# Rows per compiled call below which one thread scores them all (threads cost more than
# they save on a small batch).
_ROWS_PER_THREAD = 20_000
# Most threads one compiled call uses (None: one per core). A Dask worker sets its own share
# of the machine (`limit_threads`): workers that each took every core would fight for them.
_max_threads: int | None = None
_CORES = os.cpu_count() or 1  # read once: it costs more than a one-row compiled call
# LLVM's small code model addresses code and data within 2 GB: 15-30% faster scoring than
# lleaves' default (large) on the champion's trees, the same scores bit for bit, and safe for
# forests whose object code is about a megabyte. A model text this long (far beyond anything
# `train` makes) compiles with the large model instead.
_SMALL_CODE_MODEL_MAX_TEXT = 200_000_000


def limit_threads(n: int | None) -> None:
    """Use at most `n` threads per compiled call in this process (None: one per core)."""
    global _max_threads
    _max_threads = n


class Trees:
    """One booster's raw scores: compiled code once it is ready, LightGBM before.

    Args:
        booster: The fitted LightGBM booster (the reference the compiled code must match).
    """

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster
        self._compiled: object | None = None  # an lleaves.Model once compiled

    @property
    def ready(self) -> bool:
        """Whether the compiled code scores."""
        return self._compiled is not None

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw scores (log-odds, or the regression's value) of LightGBM's float matrix."""
        compiled = self._compiled
        if compiled is None or len(matrix) == 0:
            return np.asarray(self.booster.predict(matrix, raw_score=True), dtype=float)
        rows = np.ascontiguousarray(matrix, dtype=np.float64)
        cores = _max_threads or _CORES
        threads = max(1, min(cores, len(rows) // _ROWS_PER_THREAD))
        return np.asarray(compiled.predict(rows, n_jobs=threads), dtype=float)  # type: ignore[attr-defined]

    def compile(self, cache: Path) -> bool:
        """Compile (or load from `cache`) the trees and score with them from then on.

        Returns:
            True when the compiled code is in use; False when lleaves is not installed or
            compiling failed (logged; LightGBM keeps scoring).
        """
        try:
            import lleaves
        except ImportError:
            log.warning("lleaves is not installed: the trees run on LightGBM")
            return False
        text = self.booster.model_to_string()
        flags: dict[str, object] = {
            "raw_score": True,
            "fcodemodel": "small" if len(text) <= _SMALL_CODE_MODEL_MAX_TEXT else "large",
        }
        path = cache / f"{_digest(text, flags)}.o"
        try:
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                model_file = Path(tmp) / "model.txt"
                model_file.write_text(text)
                model = lleaves.Model(model_file=str(model_file))
                if path.exists():
                    model.compile(cache=str(path), **flags)
                else:
                    # Compiled into a private file, then renamed: another process compiling
                    # the same model never reads half an object file.
                    partial = Path(tmp) / "trees.o"
                    model.compile(cache=str(partial), **flags)
                    os.replace(partial, path)
        except Exception:  # a compiler failure must not take the model down
            log.exception("compiling the trees failed: they run on LightGBM")
            return False
        self._compiled = model
        return True


def compile_all(trees: list[Trees], cache: Path = DEFAULT_CACHE) -> bool:
    """Compile each of `trees` in turn; True when all of them score compiled."""
    return all([t.compile(cache) for t in trees])


def compile_in_background(trees: list[Trees], cache: Path = DEFAULT_CACHE) -> threading.Thread:
    """`compile_all` on a daemon thread: scoring goes on with LightGBM meanwhile.

    LLVM runs without the GIL, so requests are served while it compiles (on a busy machine,
    a little slower).
    """
    thread = threading.Thread(
        target=compile_all, args=(trees, cache), name="compile-trees", daemon=True
    )
    thread.start()
    return thread


def _digest(text: str, flags: dict[str, object]) -> str:
    """The cache name: model text, compile flags, compiler versions and host CPU."""
    import llvmlite.binding as llvm

    parts = [
        text,
        repr(sorted(flags.items())),
        metadata.version("lleaves"),
        metadata.version("llvmlite"),
        llvm.get_host_cpu_name(),
        llvm.get_host_cpu_features().flatten(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
