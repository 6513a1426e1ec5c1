"""Data sources: adapters from data of their own shape to the canonical tables.

A source is registered here by name and `module:Class`; `stallguard train --source NAME`
(and every command that reads data) can then use it. Sources load on first use, so naming
them (in the CLI's help) imports nothing heavy. docs/architecture.md shows how to add one.
"""

from __future__ import annotations

import importlib
from functools import cache

from sources.base import Source, SourceData, TrainingDefaults

REGISTERED: dict[str, str] = {
    "synthetic": "sources.synthetic.source:SyntheticSource",
    "olist": "sources.olist:OlistSource",
}


@cache
def get_source(name: str) -> Source:
    """The registered source called `name`.

    Raises:
        ValueError: No such source (the message lists the registered ones).
    """
    if name not in REGISTERED:
        raise ValueError(f"unknown source {name!r}; choose one of {', '.join(REGISTERED)}")
    module, attribute = REGISTERED[name].split(":")
    source: Source = getattr(importlib.import_module(module), attribute)()
    return source


__all__ = ["REGISTERED", "Source", "SourceData", "TrainingDefaults", "get_source"]
