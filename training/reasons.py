"""Why a parcel is at risk: feature contributions summed into reason codes, in Korean and English.

LightGBM's `pred_contrib` splits each risk score (in log-odds) into one share per feature. The
shares are summed by reason (mostly one per feature family, with a few features that speak
for a more specific reason), and the reasons that push the risk up most are reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import FAMILY_REASONS, FEATURES


@dataclass(frozen=True)
class Reason:
    """A reason code and what it tells a person.

    Attributes:
        code: Stable identifier, sent to notification systems.
        ko: Korean text.
        en: English text.
    """

    code: str
    ko: str
    en: str

    def text(self, lang: str) -> str:
        """The text in `lang` ("ko" or "en")."""
        if lang not in ("ko", "en"):
            raise ValueError(f"lang must be 'ko' or 'en', got {lang!r}")
        return self.ko if lang == "ko" else self.en


REASONS = {
    r.code: r
    for r in (
        Reason("WEATHER", "기상 악화로 배송이 지연될 수 있습니다", "Bad weather on the route"),
        Reason(
            "HUB_BACKLOG",
            "물류 허브에 물량이 몰려 처리가 늦어지고 있습니다",
            "A hub on the route is backed up",
        ),
        Reason(
            "ADDRESS",
            "주소 또는 연락처 정보가 불완전합니다",
            "The address or contact details look incomplete",
        ),
        Reason(
            "DELIVERY_FAILED", "배송 시도가 실패했습니다", "A delivery attempt has already failed"
        ),
        Reason(
            "STALLED",
            "소포가 예상보다 오래 같은 단계에 머물러 있습니다",
            "The parcel has not moved for longer than usual",
        ),
        Reason(
            "REMOTE_ROUTE",
            "도서·산간 또는 장거리 배송 경로입니다",
            "Island, remote or long-distance route",
        ),
        Reason(
            "PEAK_SEASON",
            "명절·행사 등 물량 성수기입니다",
            "Peak season (holiday rush or shopping event)",
        ),
        Reason("SELLER", "판매자의 발송이 늦어지고 있습니다", "The seller is slow to hand over"),
        Reason(
            "ORDER",
            "결제 방식이나 주문 내용상 출고 준비가 늦어질 수 있습니다",
            "Orders paid or made up like this one are often slow to ship",
        ),
        Reason(
            "LANE_DELAYS",
            "이 구간에서 최근 지연이 잦았습니다",
            "Recent delays on this route",
        ),
    )
}

# Which reason codes count as "naming" each of the simulator's hidden causes: the hidden
# cause is what happened; the reason is what the model could see coming.
CAUSE_REASONS = {
    "SELLER": {"SELLER", "STALLED"},
    "STOPPAGE": {"STALLED", "HUB_BACKLOG", "LANE_DELAYS"},
    "HUB_BACKLOG": {"HUB_BACKLOG", "PEAK_SEASON", "STALLED"},
    "WEATHER": {"WEATHER", "REMOTE_ROUTE"},
    "ISLAND_LEG": {"REMOTE_ROUTE", "WEATHER"},
    "ADDRESS": {"ADDRESS", "DELIVERY_FAILED"},
    "RECIPIENT": {"DELIVERY_FAILED", "ADDRESS"},
}


def reason_of(feature: str) -> str:
    """The reason code a feature's contribution counts toward.

    Its own (`Feature.reason`, e.g. failed attempts speak for DELIVERY_FAILED) or else its
    family's (`Family.reason`), as the family modules declare them.
    """
    found = next((f for f in FEATURES if f.name == feature), None)
    if found is None:
        raise KeyError(f"unknown feature {feature!r}")
    return found.reason or FAMILY_REASONS[found.family]


@lru_cache(maxsize=16)
def reason_matrix(feature_names: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
    """Reason codes and the (features x reasons) 0/1 matrix that sums contributions.

    Cached (built per call it was a quarter of a one-parcel request's reason time), so the
    matrix is read-only.
    """
    codes = list(REASONS)
    matrix = np.zeros((len(feature_names), len(codes)))
    for i, name in enumerate(feature_names):
        matrix[i, codes.index(reason_of(name))] = 1.0
    matrix.flags.writeable = False
    return tuple(codes), matrix


def top_reasons(
    contrib: np.ndarray, feature_names: list[str], top: int = 3, as_dict: bool = False
) -> Any:
    """The reasons that push each risk up most, from per-feature contributions.

    Args:
        contrib: `pred_contrib` output, (n, features + 1); the last column is the bias.
        feature_names: Feature order of `contrib`.
        top: How many reasons per row.
        as_dict: Return the columns as a dict of arrays (to build a larger frame once).

    Returns:
        Columns reason_1..top (code, or missing (NA) when fewer reasons push the risk up) and
        reason_1_share..top (share of all upward contributions, 0..1).
    """
    codes, matrix = reason_matrix(tuple(feature_names))
    return top_of(contrib[:, : len(feature_names)] @ matrix, codes, top, as_dict)


def top_of(
    by_reason: np.ndarray, codes: tuple[str, ...], top: int = 3, as_dict: bool = False
) -> Any:
    """`top_reasons` from contributions already summed by reason code, (n, codes)."""
    up = np.clip(by_reason, 0.0, None)
    total = up.sum(axis=1, keepdims=True)
    share = np.divide(up, total, out=np.zeros_like(up), where=total > 0)
    order = np.argsort(-up, axis=1, kind="stable")[:, :top]
    rows = np.arange(len(up))[:, None]
    picked = share[rows, order]
    names = np.asarray(codes, dtype=object)[order]
    names[picked <= 0] = None
    out: dict[str, np.ndarray] = {}
    for k in range(min(top, len(codes))):
        out[f"reason_{k + 1}"] = names[:, k]
        out[f"reason_{k + 1}_share"] = np.round(picked[:, k], 4)
    return out if as_dict else pd.DataFrame(out)


def naming(causes: Iterable[str]) -> set[str]:
    """The reason codes that name any of these hidden causes (`CAUSE_REASONS`)."""
    return set().union(*(CAUSE_REASONS.get(c, set()) for c in causes))


def agreement(reasons: pd.DataFrame, causes: pd.Series, top: int = 2) -> float:
    """Share of rows whose top reasons name one of their hidden causes.

    Args:
        reasons: Output of `top_reasons`.
        causes: Per row, the set of hidden causes (rows with no set or an empty one are skipped).
        top: How many of the top reasons may match.
    """
    named = reasons[[f"reason_{k + 1}" for k in range(top)]].to_numpy(dtype=object)
    hits = []
    for row, cause_set in enumerate(causes):
        if not isinstance(cause_set, (set, frozenset)) or not cause_set:
            continue
        hits.append(not naming(cause_set).isdisjoint(named[row]))
    return float(np.mean(hits)) if hits else float("nan")
