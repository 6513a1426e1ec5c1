"""The Stallguard HTTP service on BentoML 1.4: POST /predict, POST /alerts, GET /model.

Run it with `make serve` (or `bentoml serve serving.service:Stallguard`). Settings come from
`STALLGUARD_*` environment variables (serving/settings.py), read when the service starts. BentoML
keeps its own /healthz, /readyz, /livez and /metrics; the OpenAPI page is at / (serving/openapi.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import hmac
import logging
import threading
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

import bentoml
import pandas as pd
from bentoml.exceptions import BentoMLException
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from contract.locale import NEUTRAL
from serving.alerts import AlertStore, Sender
from serving.alerts.batch import scored_batch
from serving.guard import ApiGuard
from serving.inference import InputError, reasons_of, to_predictions, to_tables
from serving.messages import MessageBook
from serving.metrics import counters, exposition, register_collector
from serving.model_source import ServedModel, load_served_model
from serving.monitoring.gauges import WatchCollector
from serving.monitoring.summary import MonitoringOut
from serving.monitoring.view import Monitor
from serving.openapi import ASSETS, ASSETS_ROUTE, SPEC_ROUTE, page, service_spec
from serving.pages.render import (
    STATIC,
    Filters,
    Site,
    login_page,
    monitoring_page,
    ops_page,
    pass_state,
    track_page,
)
from serving.pages.session import safe_next, set_cookie_header
from serving.pages.texts import lang_of
from serving.redaction import install as install_redaction
from serving.schemas import (
    AlertOut,
    AlertsResponse,
    Lang,
    ModelInfo,
    PredictRequest,
    PredictResponse,
    ShipmentIn,
)
from serving.settings import SECRETS, Settings
from serving.watch.api import (
    AtRiskOut,
    EventsIn,
    IngestOut,
    NetworkIn,
    NetworkOut,
    RowOut,
    ShipmentsIn,
    ShipmentView,
    WatchIn,
    WatchOut,
    WeatherIn,
    checked_rows,
    frame_of,
    location_label,
    merged,
    scan_label,
    shipments_frame,
    weather_label,
)
from serving.watch.reads import at_risk_page, network_view, shipment_view
from serving.watch.store import StateStore
from serving.watch.watcher import WatchBusy, Watcher

log = logging.getLogger("stallguard.serving")


class BatchTooLarge(BentoMLException):
    """More shipments in one request than STALLGUARD_MAX_BATCH."""

    error_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class BadInput(BentoMLException):
    """Well-formed JSON that the data contract rejects (the message names row and field)."""

    error_code = HTTPStatus.UNPROCESSABLE_ENTITY


# FastAPI's own /docs page loads Swagger UI from a CDN: off. The one page is served below.
web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
web.mount(ASSETS_ROUTE, StaticFiles(directory=ASSETS), name="swagger-ui")
web.mount("/static", StaticFiles(directory=STATIC), name="pages")
# Pages show live data: a browser must not show a stale copy after a pass.
NO_STORE = {"cache-control": "no-store"}


@web.get("/", include_in_schema=False)
def docs_page() -> HTMLResponse:
    """The OpenAPI page (in place of BentoML's, which carries BentoML's placeholder text)."""
    return HTMLResponse(page())


@web.get("/docs", include_in_schema=False)
def docs_redirect() -> RedirectResponse:
    """Where FastAPI users look for the page."""
    return RedirectResponse("/")


@web.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus metrics of every worker (serving/metrics.py lists them)."""
    body, media_type = exposition()
    return Response(body, media_type=media_type)


@web.get(SPEC_ROUTE, include_in_schema=False)
def docs_spec() -> JSONResponse:
    """The OpenAPI document of every route, with the service's description and examples."""
    return JSONResponse(_spec())


@functools.cache
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _spec() -> dict[str, Any]:
    return service_spec(Stallguard.openapi_spec.asdict())  # type: ignore[attr-defined]


@bentoml.asgi_app(web, path="/")
@bentoml.service(
    name="stallguard",
    workers=1,
    traffic={"timeout": 60},
    # BentoML's access log and request metrics label each raw path, so random paths would
    # grow /metrics without bound: serving/guard.py keeps both by known route instead, and
    # the service serves /metrics itself (serving/metrics.py).
    logging={"access": {"enabled": False}},
    metrics={"enabled": False},
)
class Stallguard:
    """Risk, ETA window and reasons for parcels in flight, and the alerts they trigger."""

    def __init__(self) -> None:
        settings = Settings.load()
        self.settings = settings
        install_redaction(settings.secret(n) for n in SECRETS)
        self.model: ServedModel = load_served_model(
            settings.model_uri, settings.tracking(), settings.context_dir
        )
        if settings.compile_trees:  # LightGBM scores until the compiled trees are ready
            self.model.predictor.compile_trees(settings.tree_cache, background=True)
        self.policy = settings.alert_policy()
        context = self.model.predictor.context
        timezone = context.locale.timezone if context is not None else "UTC"
        self.messages = MessageBook.from_json(settings.compensation, timezone)
        self.store = AlertStore(settings.secret("outbox_url") or "")
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None
        webhook = settings.secret("webhook_url")
        if webhook:
            sender = Sender.for_url(
                self.store,
                webhook,
                token=settings.secret("webhook_token"),
                secret=settings.secret("webhook_secret"),
            )
            self._sender = threading.Thread(
                target=sender.run, args=(self._stop,), name="stallguard-sender", daemon=True
            )
            self._sender.start()
        self.state = StateStore(
            settings.secret("state_url") or "",
            settings.secret("pii_key"),
            context.locale if context is not None else NEUTRAL,
        )
        self.watcher = Watcher(
            self.state,
            self.model.predictor,
            self.model.label,
            self.store,
            self.policy,
            self.messages,
        )
        self.monitor = Monitor(
            self.state, self.store, self.model.predictor, self.model.label, timezone
        )
        register_collector(WatchCollector(self.monitor))
        self.site = Site(self.state, self.store, self.messages, timezone, self.model.label)
        self._clock: threading.Thread | None = None
        if settings.watch_every > 0:
            self._clock = threading.Thread(
                target=self._watch_on_a_clock,
                args=(settings.watch_every,),
                name="stallguard-watch",
                daemon=True,
            )
            self._clock.start()
        # The model and its context are ~400k long-lived objects: left in the collected
        # generations, every full garbage collection walks them (220 ms here) in a request.
        gc.collect()
        gc.freeze()
        log.info("serving %s (%s)", self.model.label, self.model.uri)

    @bentoml.on_shutdown
    def stop_sender(self) -> None:
        """Let the sender and the watcher finish what they are doing, then stop."""
        self._stop.set()
        for thread in (self._sender, self._clock):
            if thread is not None:
                thread.join(timeout=10)

    def _watch_on_a_clock(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.watcher.run_pass()
            except WatchBusy:
                log.info("watch pass skipped: another process is running one")
            except Exception as exc:  # the next pass tries again; the store keeps the work
                log.error("watch pass failed: %s", type(exc).__name__)

    # --- the live watch: ingestion ----------------------------------------------------------

    @web.post("/shipments")
    def ingest_shipments(self, body: ShipmentsIn) -> IngestOut:
        """New parcels and changes to them (upsert by shipment_id), one result per row."""
        frame, where, failed = shipments_frame(body.shipments)
        results = self.state.put_shipments(frame, _now())
        return merged(len(body.shipments), where, results, failed)

    @web.post("/events")
    def ingest_events(self, body: EventsIn) -> IngestOut:
        """Scans in any order: a repeat is a duplicate; one for an unknown parcel is rejected."""
        valid, where, failed = checked_rows("scan_events", body.events, scan_label)
        results = self.state.put_events(frame_of("scan_events", valid), _now())
        return merged(len(body.events), where, results, failed)

    @web.post("/weather")
    def ingest_weather(self, body: WeatherIn) -> IngestOut:
        """Daily observations and forecasts by region (results: observations, then forecasts)."""
        out: list[RowOut] = []
        for table, rows in (
            ("weather_daily", body.observations),
            ("weather_forecast", body.forecasts),
        ):
            valid, where, failed = checked_rows(table, rows, weather_label)
            results = self.state.put_table(table, frame_of(table, valid))
            out.extend(merged(len(rows), where, results, failed).results)
        return IngestOut(results=out)

    @web.post("/network")
    def ingest_network(self, body: NetworkIn) -> IngestOut:
        """Hubs and terminals with their daily capacities (upsert by location_id)."""
        valid, where, failed = checked_rows("network", body.locations, location_label)
        results = self.state.put_table("network", frame_of("network", valid))
        return merged(len(body.locations), where, results, failed)

    # --- the live watch: passes and reads ---------------------------------------------------

    @web.post("/watch")
    def watch(self, body: WatchIn) -> WatchOut:
        """Run a watcher pass now (or as of `as_of`: a replay's clock)."""
        as_of = None if body.as_of is None else pd.Timestamp(body.as_of)
        try:
            result = self.watcher.run_pass(as_of)
        except WatchBusy as err:
            raise HTTPException(409, str(err)) from None
        return WatchOut(
            as_of=result.as_of.to_pydatetime(),
            scored=result.scored,
            at_risk=result.at_risk,
            alerts=result.alerts,
        )

    @web.get("/shipments/{shipment_id}")
    def shipment(self, shipment_id: str, lang: Lang = "en") -> ShipmentView:
        """A parcel: risk, ETA window, reasons, promise, scans and its prediction history."""
        found = shipment_view(self.state, shipment_id, lang)
        if found is None:
            raise HTTPException(404, f"no parcel {shipment_id[:64]!r} is being watched")
        return found

    @web.get("/at-risk")
    def at_risk(
        self,
        region: str | None = None,
        location: str | None = None,
        reason: str | None = None,
        min_risk: Annotated[float, Query(ge=0, le=1)] = 0.0,
        overdue: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
        lang: Lang = "en",
    ) -> AtRiskOut:
        """Parcels in flight, highest risk first, filtered; page on with `next_cursor`."""
        try:
            return at_risk_page(
                self.state,
                lang,
                region=region,
                location=location,
                reason=reason,
                min_risk=min_risk,
                overdue=overdue,
                limit=limit,
                cursor=cursor,
            )
        except ValueError as err:
            raise HTTPException(400, str(err)) from None

    @web.get("/network")
    def network(self) -> NetworkOut:
        """Per hub and terminal: parcels in flight there and at risk, against capacity."""
        return network_view(self.state)

    @web.get("/monitoring")
    def monitoring(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> MonitoringOut:
        """Live quality from outcomes, label-free estimates, drift and findings.

        Over the passes in [since, until) (default: the last week); times with a zone.
        """
        bounds = [None if t is None else pd.Timestamp(t) for t in (since, until)]
        if any(t is not None and t.tzinfo is None for t in bounds):
            raise HTTPException(400, "since and until need a time zone, e.g. 2025-11-20T00:00Z")
        if bounds[0] is not None and bounds[1] is not None and bounds[0] >= bounds[1]:
            raise HTTPException(400, "since must be before until")
        return self.monitor.summary(*bounds).out()

    @bentoml.api(route="/predict", input_spec=PredictRequest)
    def predict(self, shipments: list[ShipmentIn], lang: Lang = "en") -> PredictResponse:
        """Risk, P10/P50/P90 ETA and top reasons for each shipment, in request order."""
        frame = self._score(shipments)
        counters().predictions.labels(endpoint="/predict").inc(len(frame))
        label = self.model.label
        return PredictResponse(predictions=to_predictions(frame, lang, label), model_version=label)

    @bentoml.api(route="/alerts", input_spec=PredictRequest)
    def alerts(self, shipments: list[ShipmentIn], lang: Lang = "en") -> AlertsResponse:
        """The alerts the policy emits for these shipments (enqueued for delivery)."""
        frame = self._score(shipments)
        counters().predictions.labels(endpoint="/alerts").inc(len(frame))
        label = self.model.label
        promised = {s.shipment_id: s.promised_at for s in shipments}  # type: ignore[attr-defined]
        ids = frame["shipment_id"].tolist()
        scored = scored_batch(frame, [promised[i] for i in ids], label)
        records = frame.to_dict("records")
        decided = self.store.decide(scored, self.policy, pd.Timestamp.now(tz="UTC"), self.messages)
        texts = {row["shipment_id"]: reasons_of(row, lang) for row in records}
        out = []
        for alert in decided:
            counters().alerts.labels(kind=alert.kind).inc()
            out.append(
                AlertOut(
                    key=alert.key,
                    kind=str(alert.kind),
                    type=alert.event_type,
                    shipment_id=alert.shipment_id,
                    promised_at=alert.scored.promised_at,
                    risk=alert.scored.risk,
                    eta_p10=alert.scored.eta_p10,
                    eta_p50=alert.scored.eta_p50,
                    eta_p90=alert.scored.eta_p90,
                    reasons=texts[alert.shipment_id],
                    message=alert.message[lang],
                    compensation=(alert.compensation or {}).get(lang),
                    model_version=label,
                )
            )
        return AlertsResponse(alerts=out, evaluated=len(frame), model_version=label)

    # --- pages for people (serving/pages/) --------------------------------------------------

    @web.get("/ops", include_in_schema=False)
    def ops(
        self,
        lang: str | None = None,
        region: str = "",
        location: str = "",
        reason: str = "",
        overdue: str = "",
        cursor: str | None = None,
        rank: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        """The ops page: the at-risk list with filters, the network, the recent alerts."""
        filters = Filters(region[:64], location[:64], reason[:32], overdue[:5])
        try:
            html = ops_page(self.site, lang_of(lang), filters, cursor, rank)
        except ValueError:  # a cursor from an older list: start again at its first page
            query = urlencode({"lang": lang_of(lang), **filters.query()})
            return RedirectResponse(f"/ops?{query}", status_code=303)
        return HTMLResponse(html, headers=NO_STORE)

    @web.get("/ops/pass", include_in_schema=False)
    def ops_pass(self) -> JSONResponse:
        """The latest pass's time: the pages reload when it changes."""
        return JSONResponse(pass_state(self.site), headers=NO_STORE)

    @web.get("/ops/monitoring", include_in_schema=False)
    def ops_monitoring(self, lang: str | None = None) -> HTMLResponse:
        """The monitoring tab: live quality, estimates, alert quality, drift, findings."""
        html = monitoring_page(self.site, self.monitor.summary(), lang_of(lang))
        return HTMLResponse(html, headers=NO_STORE)

    @web.get("/track", include_in_schema=False)
    def track_lookup(self, id: str = "", lang: str | None = None) -> RedirectResponse:
        """The lookup box's target: the parcel page of the number typed."""
        number = quote(id.strip()[:64] or "-", safe="")
        return RedirectResponse(f"/track/{number}?lang={lang_of(lang)}", status_code=303)

    @web.get("/track/{shipment_id}", include_in_schema=False)
    def track(self, shipment_id: str, lang: str | None = None) -> HTMLResponse:
        """The parcel page; an unknown number gets a "not found" page (404)."""
        status, html = track_page(self.site, lang_of(lang), shipment_id[:64])
        return HTMLResponse(html, status_code=status, headers=NO_STORE)

    @web.get("/login", include_in_schema=False)
    def login_form(self, next: str = "/ops", lang: str | None = None) -> Response:
        """The sign-in form (only when the service has a token)."""
        if self.settings.secret("api_token") is None:
            return RedirectResponse(safe_next(next), status_code=303)
        return HTMLResponse(login_page(self.site, lang_of(lang), safe_next(next), wrong=False))

    @web.post("/login", include_in_schema=False)
    async def login(self, request: Request) -> Response:
        """Check the token typed; on success set the session cookie and go on."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = form.get("token", [""])[0]
        target = safe_next(form.get("next", [""])[0])
        expected = self.settings.secret("api_token")
        if expected is None:
            return RedirectResponse(target, status_code=303)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            page = login_page(self.site, lang_of(None), target, wrong=True)
            return HTMLResponse(page, status_code=401)
        answer = RedirectResponse(target, status_code=303)
        answer.headers["set-cookie"] = set_cookie_header(expected)
        return answer

    @web.get("/model")
    def model_info(self) -> ModelInfo:
        """Registry version, run, training window and headline metrics of the served model."""
        return ModelInfo(
            model_uri=self.model.uri,
            loaded_at=self.model.loaded_at.to_pydatetime(),
            **self.model.describe(),
        )

    def _score(self, shipments: list[ShipmentIn]) -> pd.DataFrame:
        limit = self.settings.max_batch
        if len(shipments) > limit:
            raise BatchTooLarge(
                f"{len(shipments)} shipments in one request; the limit is {limit} "
                "(STALLGUARD_MAX_BATCH): split the batch"
            )
        if not shipments:
            raise BadInput("no shipments in the request")
        try:
            tables, snapshots = to_tables(shipments, pd.Timestamp.now(tz="UTC"))
        except InputError as err:
            raise BadInput(str(err)) from err
        return self.model.predictor.predict(tables, snapshots)


Stallguard.add_asgi_middleware(ApiGuard)  # type: ignore[attr-defined]
