"""One error body for every 4xx answer of the API (docs/serving.md, "Errors").

BentoML answers a pydantic failure with `{"error", "detail": [...]}` and its own exceptions
with a one-element list; our auth check answers before BentoML runs. Clients should parse one
shape, so every 4xx of an API route is rewritten to:

    {"status": 422, "error": "one line", "details": [{"field": "shipments.0.weight_kg",
                                                      "problem": "Input should be a number"}]}

`details` is empty when the problem is not about one field. Inputs are never echoed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def error_body(status: int, message: str, details: list[dict[str, str]] | None = None) -> bytes:
    """The JSON body of a 4xx answer."""
    return json.dumps({"status": status, "error": message, "details": details or []}).encode()


def normalized(status: int, raw: bytes) -> bytes:
    """Rewrite whatever body BentoML or FastAPI produced into `error_body`'s shape."""
    try:
        payload: Any = json.loads(raw or b"null")
    except ValueError:
        return error_body(status, raw.decode("utf-8", "replace").strip() or "bad request")
    if isinstance(payload, list) and len(payload) == 1:  # BentoML's one-element list
        payload = payload[0]
    if not isinstance(payload, dict):
        return error_body(status, "bad request")
    if {"status", "error", "details"} <= payload.keys():
        return json.dumps(payload).encode()
    details = payload.get("detail")
    if isinstance(details, str):  # FastAPI's HTTPException
        return error_body(status, details)
    message = str(payload.get("error") or "bad request")
    fields = [field_problem(item) for item in details or [] if isinstance(item, dict)]
    if len(fields) == 1:
        message = f"{fields[0]['field']}: {fields[0]['problem']}"
    return error_body(status, message, fields)


def field_problem(item: Mapping[str, Any]) -> dict[str, str]:
    """A pydantic error as {field, problem}; the location without pydantic's type tags."""
    loc = [str(part) for part in item.get("loc", ()) if not _is_type_tag(part)]
    return {"field": ".".join(loc), "problem": str(item.get("msg", "invalid"))}


def _is_type_tag(part: Any) -> bool:
    # pydantic puts the union member or constraint in the path ("function-after[...]").
    return isinstance(part, str) and ("[" in part or part in {"literal", "body"})
