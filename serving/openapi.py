"""The service's one OpenAPI page: its own description, every route, an example per request.

BentoML generates the paths and schemas (its inference APIs and the mounted FastAPI routes);
this module replaces BentoML's placeholder title and text, documents the bearer token and the
one error shape (serving/errors.py), and adds request examples. The page is Swagger UI from
the `swagger-ui-bundle` wheel, served by the service itself: it works with no network.
"""

from __future__ import annotations

import copy
from importlib.metadata import version
from pathlib import Path
from typing import Any

from swagger_ui_bundle import swagger_ui_path

from serving.guard import OPEN_ROUTES

ASSETS = Path(str(swagger_ui_path))
ASSETS_ROUTE = "/docs/assets"
SPEC_ROUTE = "/docs.json"

DESCRIPTION = """\
Predicts which parcels will miss their promised delivery time, with a revised ETA window
(P10–P50–P90), the top reasons, and the customer alerts they trigger.

* `POST /predict` scores shipments as of now (or each shipment's `as_of`).
* `POST /alerts` scores them, applies the alert policy and enqueues what it emits for
  delivery; repeating a request emits nothing new.
* `GET /model` says which registered model is served, its training window and metrics.

The API routes need `Authorization: Bearer <STALLGUARD_API_TOKEN>` when the service is run
with a token (use **Authorize** above). Every 4xx answer has one body:
`{"status": 422, "error": "...", "details": [{"field": "...", "problem": "..."}]}`.
Probes (`/healthz`, `/readyz`, `/livez`) and `/metrics` are open.
"""

EXAMPLE_SHIPMENT: dict[str, Any] = {
    "shipment_id": "KR00123456",
    "created_at": "2025-11-03T01:20:00Z",
    "promised_at": "2025-11-05T14:59:59Z",
    "service_level": "ECONOMY",
    "carrier": "STALLGUARD-LOGIS",
    "origin_region": "Incheon",
    "origin_postcode": "21068",
    "dest_region": "Jeonju",
    "dest_postcode": "54876",
    "dest_address": "전북특별자치도 전주시 덕진구 예시로 1",
    "weight_kg": 1.2,
    "declared_value": 23400,
    "seller_id": "S00029",
    "as_of": "2025-11-04T06:00:00Z",
    "events": [
        {
            "event_time": "2025-11-03T01:20:00Z",
            "event_type": "CREATED",
            "location_id": "TERM-INCHEON",
            "region": "Incheon",
        },
        {
            "event_time": "2025-11-03T09:10:00Z",
            "event_type": "PICKED_UP",
            "location_id": "TERM-INCHEON",
            "region": "Incheon",
        },
        {
            "event_time": "2025-11-03T11:30:00Z",
            "event_type": "HUB_IN",
            "location_id": "HUB-YONGIN-CAPITAL",
            "region": "Yongin",
        },
    ],
}

_EXAMPLES = {
    "/predict": {"shipments": [EXAMPLE_SHIPMENT], "lang": "en"},
    "/alerts": {"shipments": [EXAMPLE_SHIPMENT], "lang": "ko"},
}

_ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "required": ["status", "error", "details"],
    "properties": {
        "status": {"type": "integer", "example": 422},
        "error": {"type": "string", "example": "shipments.0.weight_kg: Input should be a number"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
            },
        },
    },
}
_ERRORS = {
    "400": "The body is not valid JSON or does not match the schema.",
    "401": "Missing or wrong bearer token.",
    "413": "More shipments than STALLGUARD_MAX_BATCH, or a body over STALLGUARD_MAX_BODY_BYTES.",
    "415": "The body is not JSON (content-type: application/json).",
    "422": "Well-formed input that the data contract rejects (names the row and field).",
    "404": "No such parcel.",
    "409": "Another watcher pass is running; try again when it ends.",
}
_POSTED = ("400", "401", "413", "415", "422")


def service_spec(generated: dict[str, Any]) -> dict[str, Any]:
    """BentoML's generated spec, with the service's own info, auth, errors and examples."""
    spec = copy.deepcopy(generated)
    spec["info"] = {
        "title": "Stallguard",
        "version": version("stallguard"),
        "description": DESCRIPTION,
    }
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    for name in ("InvalidArgument", "NotFound", "TaskStatusResponse"):
        components["schemas"].pop(name, None)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for route, item in spec["paths"].items():
        for method, operation in item.items():
            if route not in OPEN_ROUTES:
                operation["security"] = [{"bearer": []}]
                _document_errors(operation, _errors_of(method, route))
            if route in _EXAMPLES and "requestBody" in operation:
                media = operation["requestBody"]["content"]["application/json"]
                media["example"] = _EXAMPLES[route]
    return spec


def _errors_of(method: str, route: str) -> tuple[str, ...]:
    """The 4xx answers an operation can give."""
    if method == "get":
        return ("400", "401", "404", "422") if "{" in route else ("400", "401", "422")
    return (*_POSTED, "409") if route == "/watch" else _POSTED


def _document_errors(operation: dict[str, Any], codes: tuple[str, ...]) -> None:
    responses = operation.setdefault("responses", {})
    for number in (400, 404, 422):  # BentoML's and FastAPI's shapes; numbers or strings
        responses.pop(number, None)
        responses.pop(str(number), None)
    for code in codes:
        responses[code] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }


def page() -> str:
    """The Swagger UI page, loading its script and style from this service."""
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Stallguard API</title>
  <link rel="stylesheet" href="{ASSETS_ROUTE}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{ASSETS_ROUTE}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS_ROUTE}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{SPEC_ROUTE}",
      dom_id: "#swagger-ui",
      validatorUrl: null,
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
    }});
  </script>
</body>
</html>
"""
