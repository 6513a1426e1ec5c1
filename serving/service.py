"""The Stallguard HTTP service on BentoML 1.4: POST /predict, POST /alerts, GET /model.

Run it with `make serve` (or `bentoml serve serving.service:Stallguard`). Settings come from
`STALLGUARD_*` environment variables (serving/config.py), read when the service starts. BentoML
keeps its own /healthz, /readyz, /livez, /metrics and the OpenAPI page at /docs.
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

import bentoml
import pandas as pd
from bentoml.exceptions import BentoMLException
from fastapi import FastAPI

from serving.alerts import AlertPolicy, AlertStore, Scored
from serving.config import ServeSettings
from serving.inference import InputError, reasons_of, to_predictions, to_tables
from serving.messages import MessageBook
from serving.metrics import counters
from serving.model_source import ServedModel, load_served_model
from serving.notify import Sender
from serving.schemas import (
    AlertOut,
    AlertsResponse,
    Lang,
    ModelInfo,
    PredictResponse,
    ShipmentIn,
)

log = logging.getLogger("stallguard.serving")
API_ROUTES = ("/predict", "/alerts", "/model")


class BatchTooLarge(BentoMLException):
    """More shipments in one request than STALLGUARD_MAX_BATCH."""

    error_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class BadInput(BentoMLException):
    """Well-formed JSON that the data contract rejects (the message names row and field)."""

    error_code = HTTPStatus.UNPROCESSABLE_ENTITY


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ApiGuard:
    """ASGI middleware: bearer-token auth on the API routes, and a count of rejected inputs.

    BentoML's probes and metrics stay open, so orchestrators need no token. The token is
    read when the server starts; without STALLGUARD_API_TOKEN the API is open.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.token = ServeSettings.from_env().api_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the token on API routes and count the 4xx answers."""
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in API_ROUTES:
            await self.app(scope, receive, send)
            return
        if self.token and not self._authorized(scope):
            counters().rejected.labels(endpoint=path, status="401").inc()
            body = json.dumps({"error": "missing or wrong bearer token"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def counting_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                counters().rejected.labels(endpoint=path, status=str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)

    def _authorized(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        return hmac.compare_digest(given, f"Bearer {self.token}")


web = FastAPI()


@bentoml.asgi_app(web, path="/")
@bentoml.service(name="stallguard", workers=1, traffic={"timeout": 60})
class Stallguard:
    """Risk, ETA window and reasons for parcels in flight, and the alerts they trigger."""

    def __init__(self) -> None:
        settings = ServeSettings.from_env()
        self.settings = settings
        self.model: ServedModel = load_served_model(settings.model_uri, settings.context_dir)
        self.policy = AlertPolicy(settings.enter, settings.exit, settings.eta_move_h)
        self.messages = (
            MessageBook.from_json(settings.compensation_file)
            if settings.compensation_file
            else MessageBook()
        )
        self.store = AlertStore(settings.outbox_url)
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None
        if settings.webhook_url:
            sender = Sender(self.store, settings.webhook_url)
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

    @bentoml.api(route="/predict")
    def predict(self, shipments: list[ShipmentIn], lang: Lang = "en") -> PredictResponse:
        """Risk, P10/P50/P90 ETA and top reasons for each shipment, in request order."""
        frame = self._score(shipments)
        counters().predictions.labels(endpoint="/predict").inc(len(frame))
        label = self.model.label
        return PredictResponse(predictions=to_predictions(frame, lang, label), model_version=label)

    @bentoml.api(route="/alerts")
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
                    kind=alert.kind,
                    shipment_id=alert.shipment_id,
                    promised_at=alert.promised_at,
                    risk=alert.risk,
                    eta_p10=alert.eta_p10,
                    eta_p50=alert.eta_p50,
                    eta_p90=alert.eta_p90,
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
