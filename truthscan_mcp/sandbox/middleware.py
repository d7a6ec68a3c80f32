"""The faults on the wire: what a refused, reset or garbled answer looks like over HTTP.

The fault model (`sandbox.faults`) says which request fails and how; this middleware makes
it happen around the API's routes. It is pure ASGI rather than Starlette's
BaseHTTPMiddleware: a "reset" needs the server's own `receive` to reach the socket, and body
rewrites need the raw response messages. It also marks every response as simulated and
counts requests per endpoint, by the route table's own lookup.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

import anyio
import httpx2
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from truthscan_mcp.sandbox.api import endpoint_for
from truthscan_mcp.sandbox.config import FAULTABLE_ENDPOINTS
from truthscan_mcp.sandbox.faults import BODY_REWRITES, REFUSALS, ConnectionDropped, FaultRule, rewritten_body
from truthscan_mcp.sandbox.simulator import Simulator

_SIMULATED_HEADER: Final = (b"x-truthscan-simulated", b"true")
_DELAY: Final = frozenset({"delay"})


class SandboxMiddleware:
    """Marks every response as simulated, counts requests, and applies faults around the API."""

    def __init__(self, app: ASGIApp, sandbox: Simulator) -> None:
        self._app = app
        self._sim = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        send = _marked(send)
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        endpoint = endpoint_for(path[len(root) :] if root and path.startswith(root) else path)
        if endpoint is None:
            await self._app(scope, receive, send)
            return
        state = self._sim.state
        state.count_request(endpoint)
        try:
            if endpoint in FAULTABLE_ENDPOINTS:
                await self._serve_with_faults(endpoint, scope, receive, send)
            else:
                await self._app(scope, receive, send)
        finally:
            state.request_done()

    async def _serve_with_faults(self, endpoint: str, scope: Scope, receive: Receive, send: Send) -> None:
        faults, seed = self._sim.faults, self._sim.config.seed
        delay = faults.take(endpoint, _DELAY, seed)
        if delay is not None:
            await anyio.sleep(delay.delay_seconds)
        refusal = faults.take(endpoint, REFUSALS, seed)
        if refusal is not None and refusal.kind == "reset":
            await _drop_connection(receive, body_pending=True)
            return
        if refusal is not None:
            await _status_response(refusal)(scope, receive, send)
            return
        rewrite = faults.take(endpoint, BODY_REWRITES, seed)
        tracked = _TrackedReceive(receive)
        try:
            await self._app(scope, tracked, send if rewrite is None else _RewritingSend(send, rewrite.kind))
        except ConnectionDropped:
            await _drop_connection(receive, body_pending=not tracked.body_done)


def _marked(send: Send) -> Send:
    async def marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), _SIMULATED_HEADER]}
        await send(message)

    return marked


class _TrackedReceive:
    """Remembers whether the request body was read to the end (so a reset can drain the rest)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.body_done = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        return message


class _RewritingSend:
    """Lets the endpoint answer normally, then replaces its body (null, empty or cut short)."""

    def __init__(self, send: Send, kind: str) -> None:
        self._send = send
        self._kind = kind
        self._start: Message | None = None
        self._body = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        if message["type"] != "http.response.body" or self._start is None:
            await self._send(message)
            return
        self._body += message.get("body", b"")
        if message.get("more_body", False):
            return
        body = rewritten_body(self._kind, bytes(self._body))
        headers = [
            (name, value)
            for name, value in self._start.get("headers", [])
            if name.lower() not in (b"content-length", b"content-type")
        ]
        headers += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body, "more_body": False})


def _status_response(rule: FaultRule) -> Response:
    """The error answer of a "status" fault, in the body style real gateways and apps use."""
    try:
        phrase = HTTPStatus(rule.status).phrase
    except ValueError:
        phrase = "Error"
    headers = {} if rule.retry_after is None else {"Retry-After": f"{rule.retry_after:g}"}
    style = rule.body_style
    if style == "error":
        return JSONResponse({"error": phrase}, rule.status, headers)
    if style == "detail":
        return JSONResponse({"detail": phrase}, rule.status, headers)
    if style == "detail_list":
        item = {"loc": ["body"], "msg": phrase, "type": "value_error"}
        return JSONResponse({"detail": [item]}, rule.status, headers)
    if style == "text":
        return Response(f"{rule.status} {phrase}", rule.status, headers, media_type="text/plain")
    return Response(b"", rule.status, headers)


async def _drop_connection(receive: Receive, *, body_pending: bool) -> None:
    """Close the client's connection with no response at all, as a crashed server would.

    Under uvicorn, the request cycle behind `receive` owns the socket's transport: closing
    it (after reading any request body still in flight, so the close is a clean FIN rather
    than a RST racing the upload) makes the client see "server disconnected without sending
    a response". In-process (httpx2's ASGITransport) there is no socket, but that transport
    re-raises app exceptions verbatim — so raising the very error a client would get over a
    socket makes both modes look the same to the client.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None or not callable(getattr(transport, "close", None)):
        raise httpx2.RemoteProtocolError("Server disconnected without sending a response. (simulated reset)")
    with anyio.move_on_after(30):
        while body_pending:
            message = await receive()
            body_pending = message["type"] == "http.request" and bool(message.get("more_body", False))
        transport.close()
        while (await receive())["type"] != "http.disconnect":
            pass
