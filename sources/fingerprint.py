"""A short content hash of data files: two runs on the same data share it."""

from __future__ import annotations

import hashlib
from pathlib import Path


def fingerprint(data: Path, pattern: str = "*.parquet", extra: list[Path] | None = None) -> str:
    """Short content hash of the files matching `pattern` in `data`, and of `extra` files."""
    digest = hashlib.sha256()
    for path in [*sorted(data.glob(pattern)), *(extra or [])]:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
