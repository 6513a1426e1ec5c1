"""Data sources: adapters from data of their own shape to the canonical tables.

Register a source here and `stallguard train --source NAME` (and every command that reads
data) can use it; docs/architecture.md shows how to add one.
"""

from sources.base import Source, SourceData, TrainingDefaults
from sources.olist import OlistSource
from sources.synthetic.source import SyntheticSource

SOURCES: dict[str, Source] = {source.name: source for source in (SyntheticSource(), OlistSource())}


def get_source(name: str) -> Source:
    """The registered source called `name`.

    Raises:
        ValueError: No such source (the message lists the registered ones).
    """
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; choose one of {', '.join(SOURCES)}")
    return SOURCES[name]


__all__ = ["SOURCES", "Source", "SourceData", "TrainingDefaults", "get_source"]
