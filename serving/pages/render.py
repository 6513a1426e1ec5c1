"""The ops and parcel pages, rendered on the server from the live watch's reads.

The pages read exactly what the API answers (`serving/watch/reads.py`): the ops list is
`GET /at-risk` with the same filters and cursor, the network chart `GET /network`, the parcel
page `GET /shipments/{id}`; so a page and the API never disagree. Templates are Jinja2 with
autoescaping; charts are inline SVG (serving/pages/charts.py); times are shown in the served
network's local zone (KST for the Korean world).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from serving.alerts import AlertStore, Scored
from serving.messages import MessageBook
from serving.monitoring.summary import Monitoring
from serving.pages import charts
from serving.pages.texts import LANGS, Lang, local, text
from serving.watch.api import AtRiskItem, ShipmentView
from serving.watch.reads import at_risk_page, context_age, network_view, shipment_view
from serving.watch.store import StateStore
from training.reasons import REASONS

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PAGE_SIZE = 25
RECENT_ALERTS = 15
TREND_PASSES = 24 * 7  # the at-risk line covers the last week of hourly passes

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Filters:
    """The ops list's filters, as the query string gives them (empty: not set)."""

    region: str = ""
    location: str = ""
    reason: str = ""
    overdue: str = ""  # "", "true" or "false"

    def query(self) -> dict[str, str]:
        """The filters that are set, as query parameters."""
        return {k: v for k, v in self.__dict__.items() if v}

    @property
    def overdue_flag(self) -> bool | None:
        """The overdue filter as the API takes it."""
        return {"true": True, "false": False}.get(self.overdue)


@dataclass(frozen=True)
class Site:
    """What every page needs: the stores, the words, the local zone, the model's label."""

    store: StateStore
    outbox: AlertStore
    book: MessageBook
    timezone: str
    model_version: str


def ops_page(
    site: Site, lang: Lang, filters: Filters, cursor: str | None = None, rank_from: int = 0
) -> str:
    """The ops page: the at-risk list, the network, the trend and the recent alerts.

    `cursor` and `rank_from` continue the list where a "next page" link left it.

    Raises:
        ValueError: A cursor this page did not hand out.
    """
    page = at_risk_page(
        site.store,
        lang,
        region=filters.region or None,
        location=filters.location or None,
        reason=filters.reason or None,
        overdue=filters.overdue_flag,
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    rank0 = rank_from if cursor else 0
    rows = [_row(rank0 + i + 1, item, site.timezone, lang) for i, item in enumerate(page.items)]
    net = network_view(site.store)
    bars = [
        charts.Bar(loc.location_id, loc.in_flight, loc.at_risk, loc.capacity)
        for loc in sorted(
            net.locations, key=lambda loc: (loc.kind != "MEGA_HUB", loc.kind, -loc.in_flight)
        )
    ]
    trend = [
        (pd.Timestamp(p["as_of"]).tz_localize("UTC").tz_convert(site.timezone), float(p["at_risk"]))
        for p in site.store.pass_history(TREND_PASSES)
    ]
    base = {"lang": lang, **filters.query()}
    next_url = (
        "/ops?" + urlencode({**base, "cursor": page.next_cursor, "rank": rank0 + len(rows)})
        if page.next_cursor
        else None
    )
    alerts = [
        {
            "time": local(row.created_at, site.timezone),
            "kind": json.loads(row.payload).get("type", row.kind),
            "shipment_id": row.shipment_id,
            "status": row.status,
            "status_text": text(row.status, lang)
            if row.status in ("delivered", "pending")
            else row.status,
        }
        for row in site.outbox.recent(RECENT_ALERTS)
    ]
    return _render(
        "ops.html",
        site,
        lang,
        "ops",
        f"/ops?{urlencode({**base, 'lang': _other(lang)})}",
        rows=rows,
        filters=filters,
        regions=site.store.regions(),
        locations=[loc.location_id for loc in net.locations],
        reasons=[(code, reason.text(lang)) for code, reason in REASONS.items()],
        cursor=cursor,
        next_url=next_url,
        first_url=f"/ops?{urlencode(base)}",
        network_svg=charts.network_bars(
            bars,
            text("network_chart", lang),
            (text("in_flight", lang), text("at_risk_list", lang), text("capacity", lang)),
        ),
        trend_svg=charts.line(trend, text("at_risk_trend", lang), text("at_risk_trend", lang)),
        alerts=alerts,
    )


def track_page(site: Site, lang: Lang, shipment_id: str) -> tuple[int, str]:
    """The parcel page, and its status: 200, or 404 with a "not found" page."""
    view = shipment_view(site.store, shipment_id, lang)
    toggle = f"/track/{shipment_id}?lang={_other(lang)}"
    if view is None:
        return 404, _render(
            "track.html", site, lang, "track", toggle, found=False, shipment_id=shipment_id
        )
    tz = site.timezone
    message, compensation, sent = _message(site, view, lang)
    window = charts.Window(
        now=_in(view.as_of, tz),
        promised=_in(view.promised_at, tz),
        p10=_in(view.eta_p10, tz),
        p50=_in(view.eta_p50, tz),
        p90=_in(view.eta_p90, tz),
        scans=[_in(s.event_time, tz) for s in view.timeline],
    )
    names = {k: text(k, lang) for k in ("promised", "p50", "now")}
    history = [(_in(h.as_of, tz), h.risk) for h in view.history]
    return 200, _render(
        "track.html",
        site,
        lang,
        "track",
        toggle,
        found=True,
        shipment_id=view.shipment_id,
        risk="-" if view.risk is None else f"{view.risk:.0%}",
        flagged=bool(view.at_risk),
        promised=local(view.promised_at, tz),
        window=_window(view.eta_p10, view.eta_p90, tz),
        p50=local(view.eta_p50, tz),
        first_flagged=local(view.first_flagged_at, tz) if view.first_flagged_at else None,
        delivered=local(view.delivered_at, tz) if view.delivered_at else None,
        window_svg=charts.delivery_window(window, text("window_chart", lang), names),
        reasons=[{"code": r.code, "text": r.text, "share": f"{r.share:.0%}"} for r in view.reasons],
        timeline=[
            {
                "time": local(s.event_time, tz),
                "type": s.event_type,
                "where": " · ".join(v for v in (s.location_id, s.region) if v),
            }
            for s in view.timeline
        ],
        history_svg=charts.line(
            history, text("risk_history", lang), text("risk", lang), "%m-%d %H:%M"
        ),
        message=message,
        compensation=compensation,
        message_sent=sent,
    )


def login_page(site: Site, lang: Lang, next_url: str, wrong: bool) -> str:
    """The sign-in form (the API token, kept in a session cookie)."""
    return _render(
        "login.html", site, lang, "login", f"/login?lang={_other(lang)}", next=next_url, wrong=wrong
    )


def pass_state(site: Site) -> dict[str, Any]:
    """The latest pass's time, which the pages poll to refresh themselves."""
    last = site.store.last_pass()
    return {"watched_at": None if last is None else pd.Timestamp(last["as_of"]).isoformat()}


def _render(
    name: str, site: Site, lang: Lang, page: str, other_lang_url: str, **values: Any
) -> str:
    last = site.store.last_pass()
    watched = None if last is None else pd.Timestamp(last["as_of"]).tz_localize("UTC")
    age = None if last is None else _age(context_age(last), lang)
    return _env.get_template(name).render(
        lang=lang,
        page=page,
        t=lambda key: text(key, lang),
        other_lang=_other(lang),
        other_lang_url=other_lang_url,
        watched_at=None if last is None else pd.Timestamp(last["as_of"]).isoformat(),
        watched_at_local=local(watched, site.timezone, "%Y-%m-%d %H:%M"),
        context_age=age,
        model_version=site.model_version,
        **values,
    )


def _row(rank: int, item: AtRiskItem, tz: str, lang: Lang) -> dict[str, Any]:
    scan = item.last_scan
    where = (
        "-"
        if scan is None
        else " · ".join(
            v for v in (scan.event_type, scan.location_id, local(scan.event_time, tz)) if v
        )
    )
    return {
        "rank": rank,
        "shipment_id": item.shipment_id,
        "risk": f"{item.risk:.0%}",
        "at_risk": item.at_risk,
        "hours_left": f"{item.hours_left:.0f}",
        "overdue": item.hours_left < 0,
        "window": _window(item.eta_p10, item.eta_p90, tz),
        "reason": item.top_reason.text if item.top_reason else "-",
        "last_scan": where,
    }


def _message(site: Site, view: ShipmentView, lang: Lang) -> tuple[str | None, str | None, bool]:
    """The customer message sent for the parcel, or the one its prediction would send."""
    row = site.outbox.latest_for(view.shipment_id)
    if row is not None:
        data = json.loads(row.payload).get("data", {})
        hint = data.get("compensation") or {}
        return data.get("message", {}).get(lang), hint.get(lang), True
    if not view.at_risk or view.risk is None:
        return None, None, False
    if view.eta_p10 is None or view.eta_p50 is None or view.eta_p90 is None:
        return None, None, False
    scored = Scored(
        shipment_id=view.shipment_id,
        promised_at=pd.Timestamp(view.promised_at),
        as_of=pd.Timestamp(view.as_of),
        risk=view.risk,
        eta_p10=pd.Timestamp(view.eta_p10),
        eta_p50=pd.Timestamp(view.eta_p50),
        eta_p90=pd.Timestamp(view.eta_p90),
        reasons=tuple((r.code, r.share) for r in view.reasons),
        model_version=view.model_version or "",
    )
    hint = site.book.compensation_for(scored) or {}
    return site.book.render("LATE", scored, lang), hint.get(lang), False


def _window(p10: dt.datetime | None, p90: dt.datetime | None, tz: str) -> str:
    if p10 is None or p90 is None:
        return "-"
    return f"{local(p10, tz)} – {local(p90, tz)}"


def _in(ts: dt.datetime | None, tz: str) -> Any:
    return None if ts is None else pd.Timestamp(ts).tz_convert(tz).to_pydatetime()


def monitoring_page(site: Site, monitoring: Monitoring, lang: Lang) -> str:
    """The monitoring tab: `GET /monitoring`'s figures for people."""
    m = monitoring.out()
    return _render(
        "monitoring.html",
        site,
        lang,
        "monitoring",
        f"/ops/monitoring?lang={_other(lang)}",
        m=m,
        pct=_pct,
        num=_num,
        has_reference=not monitoring.drift_latest.empty,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _age(delta: dt.timedelta, lang: Lang) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} {text('minutes', lang)}"
    return f"{minutes // 60} {text('hours', lang)} {minutes % 60} {text('minutes', lang)}"


def _other(lang: Lang) -> Lang:
    return LANGS[1] if lang == LANGS[0] else LANGS[0]
