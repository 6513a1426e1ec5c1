"""Customer messages: reason, window, what to do, compensation hints, in Korean and English."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from serving.alerts import Scored
from serving.messages import KINDS, MessageBook, format_window
from training.reasons import REASONS

pytestmark = pytest.mark.serving

PROMISED = pd.Timestamp("2025-12-13T09:00:00Z")  # Sat 13 Dec, 18:00 in Seoul


def scored(reason: str = "HUB_BACKLOG", shipment_id: str = "SHP-1") -> Scored:
    # Seoul is UTC+9: P10 Sun 14 Dec 14:00 (afternoon), P90 Mon 15 Dec 10:00 (morning).
    return Scored(
        shipment_id=shipment_id,
        promised_at=PROMISED,
        as_of=pd.Timestamp("2025-12-12T00:00:00Z"),
        risk=0.8,
        eta_p10=pd.Timestamp("2025-12-14T05:00:00Z"),
        eta_p50=pd.Timestamp("2025-12-14T15:00:00Z"),
        eta_p90=pd.Timestamp("2025-12-15T01:00:00Z"),
        reasons=((reason, 0.7), ("WEATHER", 0.2)),
        model_version="stallguard/3",
    )


def test_late_messages_name_the_reason_and_the_window() -> None:
    book = MessageBook()
    ko = book.render("LATE", scored(), "ko")
    en = book.render("LATE", scored(), "en")
    assert REASONS["HUB_BACKLOG"].text("ko") in ko
    assert REASONS["HUB_BACKLOG"].text("en") in en
    assert "12월 14일(일) 오후 ~ 12월 15일(월) 오전" in ko
    assert "Sun 14 Dec afternoon – Mon 15 Dec morning" in en
    assert "12월 13일(토)" in ko and "Sat 13 Dec" in en  # the promise that will be missed
    assert "SHP-1" in ko and "SHP-1" in en
    assert "픽업" in ko and "pickup point" in en


def test_korean_is_polite_throughout() -> None:
    for kind in KINDS:
        text = MessageBook().render(kind, scored(), "ko")
        sentences = [s for s in re.split(r"(?<=[.])\s+", text) if s]
        assert all(re.search(r"(니다|십시오)\.$", s) for s in sentences), sentences


@pytest.mark.parametrize("reason", ["ADDRESS", "DELIVERY_FAILED"])
def test_address_reasons_ask_to_fix_the_address(reason: str) -> None:
    ko = MessageBook().render("LATE", scored(reason), "ko")
    en = MessageBook().render("LATE", scored(reason), "en")
    assert "수정해 주십시오" in ko
    assert "fix anything that is wrong" in en
    other = MessageBook().render("LATE", scored("WEATHER"), "en")
    assert "fix anything" not in other


def test_eta_changed_has_its_own_template() -> None:
    book = MessageBook()
    for lang in ("ko", "en"):
        late, changed = (
            book.render("LATE", scored(), lang),
            book.render("ETA_CHANGED", scored(), lang),
        )
        assert late != changed
    assert "변경되었습니다" in book.render("ETA_CHANGED", scored(), "ko")
    assert "changed" in book.render("ETA_CHANGED", scored(), "en")


@pytest.mark.parametrize("reason", [*REASONS, "SOMETHING_NEW"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_no_placeholder_is_left(reason: str, kind: str, lang: str) -> None:
    # Braces in the shipment id must come out verbatim, not be re-formatted.
    text = MessageBook().render(kind, scored(reason, shipment_id="A{0}"), lang)
    assert "A{0}" in text
    assert "{" not in text.replace("A{0}", "") and "}" not in text.replace("A{0}", "")


def test_unknown_or_missing_reason_gets_a_generic_phrase() -> None:
    book = MessageBook()
    assert "배송 경로상의 사정" in book.render("LATE", scored("SOMETHING_NEW"), "ko")
    bare = Scored(**{**scored().__dict__, "reasons": ()})
    assert "Delays on the delivery route" in book.render("LATE", bare, "en")


def test_unknown_lang_and_kind_are_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="'fr'"):
        MessageBook().render("LATE", scored(), "fr")
    with pytest.raises(ValueError, match="'EARLY'"):
        MessageBook().render("EARLY", scored(), "en")


def test_windows_read_naturally() -> None:
    at = pd.Timestamp
    # 05:00Z..08:00Z is 14:00..17:00 in Seoul: one part of one day.
    assert format_window(at("2025-12-14T05:00Z"), at("2025-12-14T08:00Z"), "en") == (
        "Sun 14 Dec afternoon"
    )
    assert format_window(at("2025-12-14T00:00Z"), at("2025-12-14T10:00Z"), "ko") == (
        "12월 14일(일) 오전 ~ 저녁"
    )
    # Given in the wrong order, the window still runs forward.
    assert format_window(at("2025-12-15T01:00Z"), at("2025-12-14T05:00Z"), "en") == (
        "Sun 14 Dec afternoon – Mon 15 Dec morning"
    )


def test_compensation_hint_for_the_top_reason(tmp_path: Path) -> None:
    hints = {
        "HUB_BACKLOG": {"ko": "배송비를 환불해 드립니다.", "en": "We refund the shipping fee."}
    }
    path = tmp_path / "compensation.json"
    path.write_text(json.dumps(hints, ensure_ascii=False), encoding="utf-8")
    book = MessageBook.from_json(path)
    assert book.compensation_for(scored("HUB_BACKLOG")) == hints["HUB_BACKLOG"]
    # WEATHER is only the second reason here: the hint follows the reason the customer is told.
    assert book.compensation_for(scored("WEATHER")) is None
    assert MessageBook().compensation_for(scored()) is None


@pytest.mark.parametrize(
    ("hints", "named"),
    [
        ({"HUB_BACKOG": {"ko": "a", "en": "b"}}, "HUB_BACKOG"),
        ({"WEATHER": {"ko": "a"}}, "'en'"),
        ({"WEATHER": {"ko": "a", "en": "b", "fr": "c"}}, "fr"),
    ],
)
def test_bad_compensation_config_fails_at_start(hints: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        MessageBook(hints)
