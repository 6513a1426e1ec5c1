"""Customer messages for alerts, in Korean and English.

A message follows customer-service practice: it tells the recipient the parcel will be late,
why (the top reason code), the new expected window (P10..P90 ETA in the customer's local time,
Asia/Seoul unless the book is given another zone, named by day and part of day rather than to
the minute, since the window is a range), and what they can do (check or fix the address, or
choose a pickup point); a back-on-track message tells them the promise holds again and the
expected window. Korean uses 합니다체 throughout, the register of the reason texts in
`training.reasons`.

Compensation hints (a coupon, a fee refund) are business decisions, so ops configure them per
reason code in a JSON file; they are returned next to the message rather than inside it, so the
notification system decides whether and how to show them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from serving.alerts.policy import AlertKind, Scored
from training.reasons import REASONS

LANGS = ("ko", "en")
KINDS = tuple(str(kind) for kind in AlertKind)
TIMEZONE = "Asia/Seoul"  # the default: a book follows the served model's locale

# When the model gives no reason, or one this module does not know (a newer model), the message
# still has to read naturally.
GENERIC_REASON = {
    "ko": "배송 경로상의 사정으로 처리가 늦어지고 있습니다",
    "en": "Delays on the delivery route",
}
# These reasons are about the address itself, so the recipient can actually fix the cause.
ADDRESS_REASONS = frozenset({"ADDRESS", "DELIVERY_FAILED"})

ACTIONS = {
    "address": {
        "ko": (
            "받으실 주소와 연락처가 정확한지 앱이나 고객센터에서 확인해 주시고, "
            "잘못된 부분이 있으면 수정해 주십시오. "
            "가까운 픽업 장소에서 받으시도록 변경하실 수도 있습니다."
        ),
        "en": (
            "Please check your delivery address and contact details in the app or with customer "
            "service, and fix anything that is wrong. You can also choose a pickup point near you."
        ),
    },
    "other": {
        "ko": (
            "앱이나 고객센터에서 받으실 주소를 확인하시거나, "
            "가까운 픽업 장소에서 받으시도록 변경하실 수 있습니다."
        ),
        "en": (
            "You can confirm your delivery address in the app or with customer service, "
            "or choose a pickup point near you instead."
        ),
    },
}

TEMPLATES = {
    ("LATE", "ko"): (
        "고객님의 소포(운송장 {shipment_id})가 약속드린 {promised}까지 도착하기 어려울 것으로 "
        "보여 미리 안내드립니다. {reason}. 새 예상 도착 시간은 {window}입니다. {action} "
        "불편을 드려 죄송합니다."
    ),
    ("LATE", "en"): (
        "Your parcel {shipment_id} is unlikely to arrive by {promised} as promised, and we "
        "wanted to let you know early. Reason: {reason}. The new expected delivery time is "
        "{window}. {action} We are sorry for the inconvenience."
    ),
    ("ETA_CHANGED", "ko"): (
        "고객님의 소포(운송장 {shipment_id}) 예상 도착 시간이 다시 변경되었습니다. "
        "새 예상 도착 시간은 {window}입니다. {reason}. {action} 불편을 드려 죄송합니다."
    ),
    ("ETA_CHANGED", "en"): (
        "Update on your parcel {shipment_id}: the expected delivery time has changed again. "
        "The new expected delivery time is {window}. Reason: {reason}. {action} "
        "We are sorry for the inconvenience."
    ),
    ("BACK_ON_TRACK", "ko"): (
        "고객님의 소포(운송장 {shipment_id})가 다시 정상적으로 배송되고 있어 안내드립니다. "
        "약속드린 {promised}까지 도착할 것으로 보이며, 예상 도착 시간은 {window}입니다. "
        "기다려 주셔서 감사합니다."
    ),
    ("BACK_ON_TRACK", "en"): (
        "Good news about your parcel {shipment_id}: it is back on track and should arrive by "
        "{promised} as promised. The expected delivery time is {window}. "
        "Thank you for your patience."
    ),
}

_KO_WEEKDAYS = "월화수목금토일"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Parts of the day by local hour: [0, 6) early morning, [6, 12) morning, [12, 18) afternoon,
# [18, 24) evening.
_KO_PARTS = ("새벽", "오전", "오후", "저녁")
_EN_PARTS = ("early morning", "morning", "afternoon", "evening")


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")


def _local(ts: pd.Timestamp, tz: str) -> pd.Timestamp:
    if ts.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {ts!r}")
    return ts.tz_convert(tz)


def format_day(ts: pd.Timestamp, lang: str, tz: str = TIMEZONE) -> str:
    """The local day of `ts` in time zone `tz`: "12월 14일(일)" or "Sun 14 Dec".

    Raises:
        ValueError: `lang` is not "ko" or "en", or `ts` is naive.
    """
    _check_lang(lang)
    t = _local(ts, tz)
    if lang == "ko":
        return f"{t.month}월 {t.day}일({_KO_WEEKDAYS[t.weekday()]})"
    return f"{_EN_WEEKDAYS[t.weekday()]} {t.day} {_EN_MONTHS[t.month - 1]}"


def _part(ts: pd.Timestamp, lang: str, tz: str) -> str:
    parts = _KO_PARTS if lang == "ko" else _EN_PARTS
    return parts[_local(ts, tz).hour // 6]


def format_window(start: pd.Timestamp, end: pd.Timestamp, lang: str, tz: str = TIMEZONE) -> str:
    """A readable local window: "12월 14일(일) 오후 ~ 12월 15일(월) 오전".

    The same day is named once ("Sun 14 Dec morning – afternoon"), and the same part of the same
    day once ("Sun 14 Dec afternoon"). The ends are swapped if given in the wrong order.

    Raises:
        ValueError: `lang` is not "ko" or "en", or a timestamp is naive.
    """
    _check_lang(lang)
    start, end = min(start, end), max(start, end)
    sep = " ~ " if lang == "ko" else " – "
    first = f"{format_day(start, lang, tz)} {_part(start, lang, tz)}"
    if _local(start, tz).date() != _local(end, tz).date():
        return f"{first}{sep}{format_day(end, lang, tz)} {_part(end, lang, tz)}"
    if _part(start, lang, tz) == _part(end, lang, tz):
        return first
    return f"{first}{sep}{_part(end, lang, tz)}"


def reason_text(code: str | None, lang: str) -> str:
    """The reason's text in `lang`; a generic phrase for no or an unknown code.

    Raises:
        ValueError: `lang` is not "ko" or "en".
    """
    _check_lang(lang)
    if code is None or code not in REASONS:
        return GENERIC_REASON[lang]
    return REASONS[code].text(lang)


def _top_reason(scored: Scored) -> str | None:
    return scored.reasons[0][0] if scored.reasons else None


class MessageBook:
    """Message templates plus the compensation hints ops configure.

    Args:
        compensation: Per reason code, a hint per language, e.g.
            `{"HUB_BACKLOG": {"ko": "배송비를 환불해 드립니다.", "en": "We refund the fee."}}`.
        timezone: Where the customer is: days and parts of days are named in its local time
            (the served model's locale).

    Raises:
        ValueError: A reason code is unknown, or a hint is missing a language or is not text
            (a typo in the ops file should fail at start, not silently never apply).
    """

    def __init__(
        self,
        compensation: Mapping[str, Mapping[str, str]] | None = None,
        timezone: str = TIMEZONE,
    ) -> None:
        self.timezone = timezone
        self.compensation: dict[str, dict[str, str]] = {}
        for code, hints in (compensation or {}).items():
            if code not in REASONS:
                raise ValueError(f"compensation: unknown reason code {code!r}")
            if not isinstance(hints, Mapping):
                raise ValueError(f"compensation[{code!r}] must map languages to text")
            for lang in LANGS:
                if not isinstance(hints.get(lang), str) or not hints[lang].strip():
                    raise ValueError(f"compensation[{code!r}] needs a {lang!r} text")
            extra = set(hints) - set(LANGS)
            if extra:
                raise ValueError(f"compensation[{code!r}]: unknown language(s) {sorted(extra)}")
            self.compensation[code] = {lang: hints[lang] for lang in LANGS}

    @classmethod
    def from_json(cls, path: str | Path | None, timezone: str = TIMEZONE) -> MessageBook:
        """A book with the compensation hints of a JSON file (`{code: {lang: text}}`).

        None (no STALLGUARD_COMPENSATION): a book without hints.

        Raises:
            ValueError: The file is not a JSON object, or its hints are invalid.
            OSError: The file cannot be read.
        """
        if path is None:
            return cls(timezone=timezone)
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of reason codes")
        return cls(data, timezone)

    def render(self, kind: AlertKind | str, scored: Scored, lang: str) -> str:
        """The customer message for an alert of `kind` on `scored`, in `lang`.

        Args:
            kind: "LATE", "ETA_CHANGED" or "BACK_ON_TRACK".
            scored: The parcel's prediction (its top reason drives the text).
            lang: "ko" or "en".

        Raises:
            ValueError: Unknown `kind` or `lang` (the message names it).
        """
        _check_lang(lang)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        code = _top_reason(scored)
        action = ACTIONS["address" if code in ADDRESS_REASONS else "other"][lang]
        return TEMPLATES[(kind, lang)].format(
            shipment_id=scored.shipment_id,
            promised=format_day(scored.promised_at, lang, self.timezone),
            reason=reason_text(code, lang),
            window=format_window(scored.eta_p10, scored.eta_p90, lang, self.timezone),
            action=action,
        )

    def compensation_for(self, scored: Scored) -> dict[str, str] | None:
        """The configured hint ({"ko", "en"}) for the parcel's top reason, or None.

        Only the top reason counts, the same one the message names, so the hint always matches
        the reason the customer is told.
        """
        code = _top_reason(scored)
        hints = self.compensation.get(code) if code is not None else None
        return dict(hints) if hints is not None else None
