"""The public API's routes: one table of path, method, endpoint name and handler.

The table is the only place that says which path reaches which endpoint: Starlette's routes
are built from it, and so is `endpoint_for`, the lookup the middleware counts and faults
requests by — so the counters can never disagree with the routing. Handlers only parse the
request (FastAPI validates the body before the handler looks at the key, and so do these)
and hand it to `sandbox.service`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, compile_path

from truthscan_mcp.sandbox import service
from truthscan_mcp.sandbox.config import Endpoint
from truthscan_mcp.sandbox.responses import (
    base_url,
    client_gone,
    missing,
    read_json_model,
    respond,
    validation_error,
)
from truthscan_mcp.sandbox.simulator import Simulator

Handler = Callable[[Simulator, Request], Awaitable[Response]]


async def _presign(sim: Simulator, request: Request) -> Response:
    file_name = request.query_params.get("file_name")
    if file_name is None:
        return validation_error([missing("query", "file_name")])
    key = request.headers.get("apikey")
    return respond(service.presign(sim, key=key, file_name=file_name, base_url=base_url(request)))


async def _upload(sim: Simulator, request: Request) -> Response:
    headers = request.headers
    upload = service.UploadRequest(
        token=request.path_params["token"],
        signature=request.query_params.get("X-Amz-Signature"),
        acl=headers.get("x-amz-acl", ""),
        content_type=headers.get("content-type", ""),
        content_length=headers.get("content-length", ""),
        body=request.stream(),
    )
    try:
        return respond(await service.upload(sim, upload))
    except ClientDisconnect:
        return client_gone()  # an upload abandoned half-way stores nothing


async def _detect(sim: Simulator, request: Request) -> Response:
    body = await read_json_model(request, service.DetectRequest)
    if isinstance(body, JSONResponse):
        return body
    return respond(service.detect(sim, body))


async def _query(sim: Simulator, request: Request) -> Response:
    body = await read_json_model(request, service.QueryRequest)
    if isinstance(body, JSONResponse):
        return body
    return respond(service.query(sim, body, base_url=base_url(request)))


async def _credits(sim: Simulator, request: Request) -> Response:
    return respond(service.credits(sim, key=request.headers.get("apikey")))


async def _health(sim: Simulator, request: Request) -> Response:
    return respond(service.health())


async def _heatmap(sim: Simulator, request: Request) -> Response:
    return respond(service.heatmap(sim, name=request.path_params["name"]))


async def _preview(sim: Simulator, request: Request) -> Response:
    return respond(service.preview(sim, name=request.path_params["name"]))


async def _stored_file(sim: Simulator, request: Request) -> Response:
    return respond(service.stored_file(sim, path=request.path_params["path"]))


@dataclass(frozen=True, slots=True)
class ApiRoute:
    path: str
    method: str
    endpoint: Endpoint
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        """The path's regex, compiled exactly as Starlette's router compiles it."""
        return compile_path(self.path)[0]


#: First match wins, as in Starlette's router: the heatmap and preview paths precede the
#: catch-all storage path.
API_ROUTES: Final[tuple[ApiRoute, ...]] = (
    ApiRoute("/get-presigned-url", "GET", "presign", _presign),
    ApiRoute("/storage-upload/{token}", "PUT", "upload", _upload),
    ApiRoute("/detect", "POST", "detect", _detect),
    ApiRoute("/query", "POST", "query", _query),
    ApiRoute("/check-user-credits", "GET", "credits", _credits),
    ApiRoute("/health", "GET", "health", _health),
    ApiRoute("/storage/heatmaps/{name}", "GET", "heatmap", _heatmap),
    ApiRoute("/storage/previews/{name}", "GET", "storage", _preview),
    ApiRoute("/storage/{path:path}", "GET", "storage", _stored_file),
)
_PATTERNS: Final[tuple[tuple[re.Pattern[str], Endpoint], ...]] = tuple(
    (route.pattern, route.endpoint) for route in API_ROUTES
)


def endpoint_for(path: str) -> Endpoint | None:
    """The stats/fault name of the endpoint `path` reaches, whatever the method (a wrong
    method is still a request to that endpoint); None for the control plane and 404s."""
    for pattern, endpoint in _PATTERNS:
        if pattern.match(path):
            return endpoint
    return None


def api_routes(sim: Simulator) -> list[Route]:
    """The table's Starlette routes, each handler bound to `sim`."""
    return [Route(route.path, _bound(route.handler, sim), methods=[route.method]) for route in API_ROUTES]


def _bound(handler: Handler, sim: Simulator) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await handler(sim, request)

    return endpoint
