"""Where a job spends its time: named laps of a wall clock (training stages, watcher passes)."""

from __future__ import annotations

import time


class Stopwatch:
    """Seconds between laps, by name, rounded to `digits` (None: as measured)."""

    def __init__(self, digits: int | None = None) -> None:
        self.digits = digits
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        """Record the time since the previous lap (or the start) as `name`."""
        now = time.perf_counter()
        elapsed = now - self._last
        self.laps[name] = elapsed if self.digits is None else round(elapsed, self.digits)
        self._last = now
