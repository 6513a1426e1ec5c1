"""The training reference for drift: how features and risk were spread over parcels in flight.

Fitted at training time on pass-like snapshots (every parcel in flight at regular times over
the data's last days, as the live watch sees them, not the training sample's after-scan
snapshots), saved in the model bundle, and compared with what the watch scores by the
population stability index (docs/monitoring.md, "Drift").

A profile stores bins, not rows: numbers get the reference's deciles as edges, categories
their most frequent values (the rest is one "other" bin), and both a bin for missing values.
A pass keeps only its bin counts, so passes pool by adding counts (a day's drift is the drift
of all its passes together).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import FEATURES

BINS = 10
TOP_CATEGORIES = 20
# Shares below this count as this in PSI: an empty bin on either side stays finite.
FLOOR = 1e-4
REFERENCE_DAYS = 28.0  # the data's last four weeks: recent, every weekday four times
RISK = "risk"  # the profile of the model's output: prediction drift
FILE = "reference.json"
_KIND = {f.name: f.kind for f in FEATURES}


@dataclass(frozen=True)
class Profile:
    """One column's bins and the reference's share in each.

    Attributes:
        name: Column name.
        kind: "numeric" or "category".
        edges: Numeric: the inner bin edges; categories: the values with a bin of their own.
        shares: Reference share per bin; then "other" (categories only), then missing.
        tails: Numeric only: where values are far outside what the model was trained on:
            half the 0.5-99.5% range beyond that range, on either side (an on-hand ratio of
            1.1 where the reference stays within 0-0.7). `counts` counts them after the bins.
    """

    name: str
    kind: str
    edges: tuple[Any, ...]
    shares: tuple[float, ...]
    tails: tuple[float, float] | None = None

    def counts(self, values: np.ndarray) -> np.ndarray:
        """How many of `values` fall in each bin (as `shares`), then below and above `tails`."""
        values = np.asarray(values)
        if self.kind == "numeric":
            x = _as_floats(values)
            missing = np.isnan(x)
            present = x[~missing]
            which = np.searchsorted(np.asarray(self.edges, dtype=float), present, "right")
            found = np.bincount(which, minlength=len(self.edges) + 1)
            low, high = self.tails if self.tails is not None else (-np.inf, np.inf)
            beyond = [int((present < low).sum()), int((present > high).sum())]
            return np.concatenate([found, [int(missing.sum())], beyond]).astype(np.int64)
        text = pd.Series(values, dtype=object)
        missing = text.isna().to_numpy()
        position = pd.Index(self.edges).get_indexer(text[~missing].astype(str))
        position = np.where(position < 0, len(self.edges), position)  # other
        found = np.bincount(position, minlength=len(self.edges) + 1)
        return np.append(found, int(missing.sum())).astype(np.int64)

    def outside(self, counts: np.ndarray) -> float:
        """Share of the non-missing values beyond `tails` (NaN for categories)."""
        if self.kind != "numeric" or len(counts) != len(self.shares) + 2:
            return float("nan")
        present = counts[: len(self.shares) - 1].sum()
        return float(counts[-2:].sum() / present) if present else float("nan")

    @classmethod
    def fit(cls, name: str, values: np.ndarray, kind: str) -> Profile:
        """Bins from the reference values and the reference's share in each."""
        tails = None
        if kind == "numeric":
            x = _as_floats(values)
            present = x[~np.isnan(x)]
            cuts = np.linspace(0, 1, BINS + 1)[1:-1]
            quantiles = np.quantile(present, cuts) if len(present) else []
            edges: tuple[Any, ...] = tuple(float(e) for e in np.unique(quantiles))
            if len(present):
                low, high = np.quantile(present, [0.005, 0.995])
                margin = (high - low) / 2
                tails = (float(low - margin), float(high + margin))
        else:
            text = pd.Series(values, dtype=object).dropna().astype(str)
            edges = tuple(text.value_counts().index[:TOP_CATEGORIES])
        profile = cls(name, kind, edges, (), tails)
        counts = profile.counts(values)[: len(edges) + 2]
        shares = counts / max(int(counts.sum()), 1)
        return cls(name, kind, edges, tuple(float(s) for s in shares), tails)


def psi(reference: np.ndarray, counts: np.ndarray) -> float:
    """Population stability index of `counts` against the reference shares (NaN when empty).

    Sum of (actual - expected) * ln(actual / expected) over bins, shares floored at `FLOOR`.
    """
    total = counts.sum()
    if total == 0:
        return float("nan")
    actual = np.maximum(counts / total, FLOOR)
    expected = np.maximum(np.asarray(reference, dtype=float), FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class Reference:
    """The profiles of every feature and of the risk, and what they were fitted on.

    Attributes:
        profiles: Profile per column name (features, then `RISK`).
        rows: Snapshots the reference was fitted on.
        start: First pass time of the reference (UTC, ISO).
        end: Last pass time of the reference (UTC, ISO).
        risk_mean: Mean risk of the reference parcels: the late rate the model expected
            of parcels in flight then.
    """

    profiles: dict[str, Profile]
    rows: int
    start: str
    end: str
    risk_mean: float

    @classmethod
    def fit(cls, features: pd.DataFrame, risk: np.ndarray, snapshots: pd.DataFrame) -> Reference:
        """Profile every feature column and the risk of the reference snapshots."""
        profiles = {
            name: Profile.fit(name, features[name].to_numpy(), _KIND.get(name, "numeric"))
            for name in features.columns
        }
        profiles[RISK] = Profile.fit(RISK, np.asarray(risk, dtype=float), "numeric")
        times = snapshots["as_of"]
        start, end = times.min().isoformat(), times.max().isoformat()
        return cls(profiles, len(features), start, end, float(np.mean(risk)))

    def counts(self, columns: Mapping[str, np.ndarray], risk: np.ndarray) -> dict[str, list[int]]:
        """Bin counts of one batch of scored parcels (what a pass keeps)."""
        out = {
            name: profile.counts(columns[name]).tolist()
            for name, profile in self.profiles.items()
            if name in columns
        }
        out[RISK] = self.profiles[RISK].counts(np.asarray(risk, dtype=float)).tolist()
        return out

    def drift(self, counts: Mapping[str, list[int] | np.ndarray]) -> dict[str, tuple[float, float]]:
        """(PSI, share beyond the reference's tails) per column of (pooled) bin counts."""
        out = {}
        for name, found in counts.items():
            profile = self.profiles.get(name)
            if profile is None:
                continue
            array = np.asarray(found)
            shares = np.asarray(profile.shares)
            out[name] = (psi(shares, array[: len(shares)]), profile.outside(array))
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {
            "rows": self.rows,
            "start": self.start,
            "end": self.end,
            "risk_mean": self.risk_mean,
            "profiles": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "edges": list(p.edges),
                    "shares": list(p.shares),
                    "tails": None if p.tails is None else list(p.tails),
                }
                for p in self.profiles.values()
            ],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Reference:
        """Inverse of `to_dict`."""
        profiles = {
            p["name"]: Profile(
                p["name"],
                p["kind"],
                tuple(p["edges"]),
                tuple(p["shares"]),
                None if p.get("tails") is None else (p["tails"][0], p["tails"][1]),
            )
            for p in raw["profiles"]
        }
        return cls(profiles, int(raw["rows"]), raw["start"], raw["end"], raw["risk_mean"])

    def write(self, root: Path) -> None:
        """Write into a model bundle directory."""
        (root / FILE).write_text(json.dumps(self.to_dict()))

    @classmethod
    def read(cls, root: Path) -> Reference | None:
        """Read from a model bundle directory (None: a bundle saved without one)."""
        path = root / FILE
        return cls.from_dict(json.loads(path.read_text())) if path.exists() else None


def _as_floats(values: np.ndarray) -> np.ndarray:
    """Numbers as floats, anything else NaN (a pass's feature columns are floats already)."""
    if values.dtype.kind in "fiub":
        return values.astype(float, copy=False)
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
