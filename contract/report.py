"""The rejection report: which row of which table broke which rule, PII never shown."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contract.schema import TableSchema
from contract.tables import Tables

REPORT_COLUMNS = ["table", "row_key", "column", "rule", "value"]
REDACTED = "<redacted>"


@dataclass(frozen=True)
class ValidationResult:
    """Valid rows of every table plus the report of what was rejected and why.

    Attributes:
        tables: Only the rows that passed, conformed to canonical dtypes.
        rejections: One row per (rejected row, broken rule): table, row_key, column, rule, value.
        notes: Table-level remarks that reject no row (e.g. ignored extra columns).
    """

    tables: Tables
    rejections: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return self.rejections.empty

    def summary(self) -> pd.DataFrame:
        """Rejected rows counted per table and rule."""
        if self.rejections.empty:
            return pd.DataFrame(columns=["table", "rule", "rows"])
        return (
            self.rejections.groupby(["table", "rule"], observed=True)["row_key"]
            .nunique()
            .rename("rows")
            .reset_index()
        )


class Rejections:
    """Collects (row mask, rule) findings for one table and renders them as report rows.

    Args:
        schema: The table the rows belong to (its key names a row; its PII columns are
            never shown).
        frame: The rows, as they came in (the report shows their values).
    """

    def __init__(self, schema: TableSchema, frame: pd.DataFrame) -> None:
        self.schema = schema
        self.frame = frame
        self.bad = np.zeros(len(frame), dtype=bool)
        self.parts: list[pd.DataFrame] = []

    def add(
        self, mask: np.ndarray, column: str, rule: str, values: pd.Series | None = None
    ) -> None:
        """Reject the rows of `mask` for breaking `rule` on `column` (showing `values`)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        self.bad |= mask
        rows = np.flatnonzero(mask)
        if values is None:
            shown = pd.Series([""] * len(rows))
        elif self._is_pii(column):
            shown = pd.Series([REDACTED] * len(rows))
        else:
            shown = values.iloc[rows].astype("str").reset_index(drop=True)
        self.parts.append(
            pd.DataFrame(
                {
                    "table": self.schema.name,
                    "row_key": self._keys(rows),
                    "column": column,
                    "rule": rule,
                    "value": shown.to_numpy(),
                }
            )
        )

    def _is_pii(self, column: str) -> bool:
        return any(c.name == column and c.pii for c in self.schema.columns)

    def _keys(self, rows: np.ndarray) -> np.ndarray:
        """Row keys like `KR1` or `KR1|2025-07-01 10:00:00+00:00|HUB_IN`; row number if blank."""
        parts = []
        for name in self.schema.key:
            if name in self.frame:
                parts.append(self.frame[name].iloc[rows].astype("str").fillna("").to_numpy())
        if not parts:
            return np.array([f"row {r}" for r in rows], dtype=object)
        keys = parts[0].astype(object)
        for p in parts[1:]:
            keys = keys + "|" + p.astype(object)
        blank = np.array([k.strip("|") == "" for k in keys])
        keys[blank] = [f"row {r}" for r in rows[blank]]
        return keys

    def report(self) -> pd.DataFrame:
        """The findings as report rows (REPORT_COLUMNS)."""
        if not self.parts:
            return pd.DataFrame(columns=REPORT_COLUMNS)
        return pd.concat(self.parts, ignore_index=True)


def combine(reports: list[pd.DataFrame]) -> pd.DataFrame:
    """One report of several (an empty one with the report's columns when all are empty)."""
    non_empty = [r for r in reports if not r.empty]
    if not non_empty:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    return pd.concat(non_empty, ignore_index=True)
