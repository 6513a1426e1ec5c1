"""The Stallguard HTTP service on BentoML 1.4: POST /predict, POST /alerts, GET /model.

Run it with `make serve` (or `bentoml serve serving.service:Stallguard`). Settings come from
`STALLGUARD_*` environment variables (serving/settings.py), read when the service starts. BentoML
keeps its own /healthz, /readyz, /livez and /metrics; the OpenAPI page is at / (serving/openapi.py).
"""

from __future__ import annotations

import functools
import gc
import logging
import threading
from http import HTTPStatus
from typing import Any

import bentoml
import pandas as pd
from bentoml.exceptions import BentoMLException
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from serving.alerts import AlertPolicy, AlertStore, Scored, Sender
from serving.guard import ApiGuard
from serving.inference import InputError, reasons_of, to_predictions, to_tables
from serving.messages import MessageBook
from serving.metrics import counters, exposition
from serving.model_source import ServedModel, load_served_model
from serving.openapi import ASSETS, ASSETS_ROUTE, SPEC_ROUTE, page, service_spec
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
        self.policy = AlertPolicy(
            settings.alert_enter, settings.alert_exit, settings.alert_eta_move_h
        )
        context = self.model.predictor.context
        timezone = context.locale.timezone if context is not None else "UTC"
        self.messages = (
            MessageBook.from_json(settings.compensation, timezone)
            if settings.compensation
            else MessageBook(timezone=timezone)
        )
        self.store = AlertStore(settings.secret("outbox_url") or "")
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None
        webhook = settings.secret("webhook_url")
        if webhook:
            sender = Sender.for_url(self.store, webhook, token=settings.secret("webhook_token"))
            self._sender = threading.Thread(
                target=sender.run, args=(self._stop,), name="stallguard-sender", daemon=True
            )
            self._sender.start()
        # The model and its context are ~400k long-lived objects: left in the collected
        # generations, every full garbage collection walks them (220 ms here) in a request.
        gc.collect()
        gc.freeze()
        log.info("serving %s (%s)", self.model.label, self.model.uri)

    @bentoml.on_shutdown
    def stop_sender(self) -> None:
        """Let the sender finish its current delivery, then stop."""
        self._stop.set()
        if self._sender is not None:
            self._sender.join(timeout=10)

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
        scored = [
            Scored(
                shipment_id=row["shipment_id"],
                promised_at=pd.Timestamp(promised[row["shipment_id"]]).tz_convert("UTC"),
                as_of=row["as_of"],
                risk=float(row["risk"]),
                eta_p10=row["eta_p10"],
                eta_p50=row["eta_p50"],
                eta_p90=row["eta_p90"],
                reasons=tuple((r.code, r.share) for r in reasons_of(row, "en")),
                model_version=label,
            )
            for row in frame.to_dict("records")
        ]
        decided = self.store.decide(scored, self.policy, pd.Timestamp.now(tz="UTC"), self.messages)
        texts = {row["shipment_id"]: reasons_of(row, lang) for row in frame.to_dict("records")}
        out = []
        for alert in decided:
            counters().alerts.labels(kind=alert.kind).inc()
            out.append(
                AlertOut(
                    key=alert.key,
                    kind=str(alert.kind),
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
