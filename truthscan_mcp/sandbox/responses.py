"""The service's answers on the wire, in the three error dialects a TruthScan client meets.

The API answers `{"error": ...}` from its own code and FastAPI's `{"detail": [...]}` from
request validation; the object storage behind the presigned URL answers S3 XML. A client
has to understand all three, so the simulator speaks each one where the real service does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeVar
from xml.sax.saxutils import escape

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from truthscan_mcp.sandbox.answers import Answer, ApiRefusal, FileAnswer, JsonAnswer, StorageRefusal

ModelT = TypeVar("ModelT", bound=BaseModel)
Json = dict[str, object]


def respond(answer: Answer) -> Response:
    """The HTTP response that spells `answer` the way the real service does."""
    match answer:
        case JsonAnswer(body, status):
            return JSONResponse(body, status)
        case ApiRefusal(status, message):
            return JSONResponse({"error": message}, status)
        case StorageRefusal(status, code, message, close):
            return s3_error(status, code, message, close=close)
        case FileAnswer(data, media_type, headers):
            return Response(data, 200, headers, media_type=media_type)


def s3_error(status: int, code: str, message: str, *, close: bool = False) -> Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    )
    headers = {"Connection": "close"} if close else None
    return Response(body, status, headers, media_type="application/xml")


def validation_error(items: Sequence[Json]) -> JSONResponse:
    """FastAPI's 422 body: a list of `{type, loc, msg}` (inputs are never echoed: they may hold keys)."""
    return JSONResponse({"detail": list(items)}, 422)


def missing(*loc: str) -> Json:
    return {"type": "missing", "loc": list(loc), "msg": "Field required"}


async def read_json_model(request: Request, model: type[ModelT]) -> ModelT | JSONResponse:
    """The request body as `model`, or the exact 422 FastAPI would have answered."""
    try:
        raw = await request.body()
    except ClientDisconnect:
        return client_gone()
    if not raw.strip():
        return validation_error([missing("body")])
    try:
        data: object = json.loads(raw)
    except json.JSONDecodeError as exc:
        return validation_error(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", exc.pos],
                    "msg": "JSON decode error",
                    "ctx": {"error": exc.msg},
                }
            ]
        )
    except UnicodeDecodeError:
        return validation_error([{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        return validation_error(
            [{"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]} for e in errors]
        )


def client_gone() -> JSONResponse:
    """What to "answer" a client that hung up mid-request: nobody will read it (nginx's 499)."""
    return JSONResponse(None, 499)


def base_url(request: Request) -> str:
    """The URL this request reached us at, so links work in-process and on a real socket alike."""
    return str(request.base_url).rstrip("/")
