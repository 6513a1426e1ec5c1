"""The pages' words in Korean and English (Korean by default), and how times are shown.

Reason texts come from `training.reasons` and customer messages from `serving.messages`; this
module holds only the pages' own labels.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")
DEFAULT_LANG: Lang = "ko"

TEXTS: dict[str, dict[Lang, str]] = {
    "app": {"ko": "Stallguard 배송 관제", "en": "Stallguard parcel watch"},
    "ops": {"ko": "운영 현황", "en": "Operations"},
    "track": {"ko": "소포 조회", "en": "Parcel lookup"},
    "lookup_label": {"ko": "운송장 번호", "en": "Tracking number"},
    "lookup": {"ko": "조회", "en": "Look up"},
    "other_lang": {"ko": "English", "en": "한국어"},
    "last_pass": {"ko": "마지막 점검", "en": "Last pass"},
    "context_age": {"ko": "컨텍스트 나이", "en": "Context age"},
    "no_pass": {"ko": "아직 점검 전입니다", "en": "No pass yet"},
    "at_risk_list": {"ko": "지연 위험 소포", "en": "Parcels at risk"},
    "rank": {"ko": "순위", "en": "Rank"},
    "shipment": {"ko": "운송장", "en": "Parcel"},
    "risk": {"ko": "위험도", "en": "Risk"},
    "hours_left": {"ko": "약속까지(시간)", "en": "Hours to promise"},
    "eta_window": {"ko": "예상 도착 (P10–P90)", "en": "ETA window (P10–P90)"},
    "top_reason": {"ko": "주요 원인", "en": "Top reason"},
    "last_scan": {"ko": "마지막 스캔", "en": "Last scan"},
    "region": {"ko": "지역", "en": "Region"},
    "location": {"ko": "허브·터미널", "en": "Hub or terminal"},
    "reason": {"ko": "원인", "en": "Reason"},
    "overdue": {"ko": "약속 초과", "en": "Overdue"},
    "any": {"ko": "전체", "en": "Any"},
    "yes": {"ko": "예", "en": "Yes"},
    "no": {"ko": "아니요", "en": "No"},
    "filter": {"ko": "필터 적용", "en": "Filter"},
    "clear": {"ko": "초기화", "en": "Clear"},
    "next_page": {"ko": "다음 페이지", "en": "Next page"},
    "first_page": {"ko": "처음으로", "en": "First page"},
    "no_parcels": {"ko": "조건에 맞는 소포가 없습니다", "en": "No parcel matches"},
    "network": {"ko": "네트워크", "en": "Network"},
    "network_chart": {
        "ko": "허브·터미널별 운송 중 소포와 위험 소포, 일일 처리 용량",
        "en": "Parcels in flight and at risk per hub and terminal, against daily capacity",
    },
    "in_flight": {"ko": "운송 중", "en": "In flight"},
    "capacity": {"ko": "일일 용량", "en": "Daily capacity"},
    "at_risk_trend": {"ko": "점검별 위험 소포 수", "en": "Parcels at risk per pass"},
    "alerts_recent": {"ko": "최근 알림", "en": "Recent alerts"},
    "kind": {"ko": "종류", "en": "Kind"},
    "time": {"ko": "시각", "en": "Time"},
    "status": {"ko": "상태", "en": "Status"},
    "no_alerts": {"ko": "보낸 알림이 없습니다", "en": "No alert yet"},
    "promised": {"ko": "약속", "en": "Promised"},
    "p50": {"ko": "예상(P50)", "en": "Expected (P50)"},
    "now": {"ko": "현재", "en": "Now"},
    "window_chart": {
        "ko": "약속 시간과 예상 도착 구간(P10–P90)",
        "en": "The promise and the expected delivery window (P10–P90)",
    },
    "flagged": {"ko": "지연 위험으로 표시됨", "en": "Flagged at risk"},
    "not_flagged": {"ko": "정상 범위", "en": "Not flagged"},
    "first_flagged": {"ko": "처음 표시된 시각", "en": "First flagged"},
    "reasons": {"ko": "원인", "en": "Reasons"},
    "timeline": {"ko": "스캔 기록", "en": "Scan timeline"},
    "risk_history": {"ko": "위험도 변화", "en": "Risk over the passes"},
    "message": {"ko": "고객 안내 메시지", "en": "Customer message"},
    "message_sent": {"ko": "발송됨", "en": "Sent"},
    "message_draft": {
        "ko": "발송 전 (현재 예측 기준)",
        "en": "Not sent (from the current prediction)",
    },
    "compensation": {"ko": "보상 안내", "en": "Compensation hint"},
    "not_found": {"ko": "찾을 수 없는 운송장입니다", "en": "Parcel not found"},
    "not_found_detail": {
        "ko": "이 번호의 소포는 관제 중이 아닙니다. 번호를 다시 확인해 주십시오.",
        "en": "No parcel with this number is being watched. Please check the number.",
    },
    "delivered": {"ko": "배송 완료", "en": "Delivered"},
    "pending": {"ko": "대기", "en": "Pending"},
    "model": {"ko": "모델", "en": "Model"},
    "login": {"ko": "로그인", "en": "Sign in"},
    "token": {"ko": "API 토큰", "en": "API token"},
    "wrong_token": {"ko": "토큰이 맞지 않습니다", "en": "Wrong token"},
    "hours": {"ko": "시간", "en": "h"},
    "minutes": {"ko": "분", "en": "min"},
    "monitoring": {"ko": "모델 점검", "en": "Monitoring"},
    "findings": {"ko": "조치가 필요한 항목", "en": "Findings"},
    "no_findings": {"ko": "넘은 기준이 없습니다", "en": "No threshold crossed"},
    "in_flight_now": {"ko": "배송 중 소포", "en": "Parcels in flight"},
    "expected_late": {"ko": "예상 지연율 (라벨 없이)", "en": "Expected late (label-free)"},
    "training_late": {"ko": "학습 때 예상 지연율", "en": "Expected late in training"},
    "expected_auc": {"ko": "예상 ROC-AUC", "en": "Expected ROC-AUC"},
    "share_at_risk": {"ko": "위험 표시 비율", "en": "Share flagged"},
    "live_quality": {
        "ko": "일별 실제 성능 (결과 도착분)",
        "en": "Live quality by day (outcomes landed)",
    },
    "day": {"ko": "날짜", "en": "Day"},
    "predictions": {"ko": "예측 수", "en": "Predictions"},
    "settled": {"ko": "결과 확정", "en": "Settled"},
    "late_real_est": {"ko": "지연율 실제 / 추정", "en": "Late rate real / estimated"},
    "auc_real_est": {"ko": "AUC 실제 / 추정", "en": "AUC real / estimated"},
    "ece": {"ko": "보정 오차", "en": "Calibration error"},
    "mae": {"ko": "P50 오차(시간)", "en": "P50 error (h)"},
    "coverage": {"ko": "P10–P90 적중", "en": "P10–P90 coverage"},
    "backtest": {"ko": "백테스트", "en": "Backtest"},
    "alert_quality": {"ko": "알림 품질 (약속일 기준)", "en": "Alert quality (by promise day)"},
    "precision": {"ko": "정밀도", "en": "Precision"},
    "recall": {"ko": "재현율", "en": "Recall"},
    "recall_12h": {"ko": "12시간 전 재현율", "en": "Recall 12 h ahead"},
    "lead": {"ko": "선행 시간(중앙값)", "en": "Lead time (median)"},
    "drift": {
        "ko": "특성 드리프트 (네트워크 특성 최근 6시간, 소포 특성 최근 7일)",
        "en": "Drift (network features: last 6 h; parcel features: last 7 days)",
    },
    "outside": {"ko": "학습 범위 밖", "en": "Beyond training range"},
    "score": {"ko": "점수 (1 = 기준)", "en": "Score (1 = threshold)"},
    "family": {"ko": "특성 묶음", "en": "Family"},
    "feature": {"ko": "특성", "en": "Feature"},
    "level": {"ko": "수준", "en": "Level"},
    "no_reference": {
        "ko": "이 모델에는 드리프트 기준이 없습니다",
        "en": "This model has no drift reference",
    },
    "parcels": {"ko": "소포", "en": "Parcels"},
    "late": {"ko": "지연", "en": "Late"},
    "alerted": {"ko": "알림", "en": "Alerted"},
    "all_days": {"ko": "전체", "en": "All"},
}


def text(key: str, lang: Lang) -> str:
    """The label `key` in `lang`.

    Raises:
        KeyError: An unknown label (a typo in a template fails the tests, not silently).
    """
    return TEXTS[key][lang]


def lang_of(value: str | None) -> Lang:
    """`ko` or `en` from a query parameter; Korean for anything else."""
    return "en" if value == "en" else DEFAULT_LANG


def local(ts: dt.datetime | None, timezone: str, fmt: str = "%m-%d %H:%M") -> str:
    """A time in the service's local zone (KST for the Korean network), or a dash."""
    if ts is None:
        return "-"
    import pandas as pd

    return pd.Timestamp(ts).tz_convert(timezone).strftime(fmt)
