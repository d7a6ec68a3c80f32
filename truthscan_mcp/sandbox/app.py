"""`Sandbox`: a faithful, fault-injectable simulator of the TruthScan API as one ASGI app.

The real service cannot be reached from tests, costs credits, and never fails on cue. The
sandbox answers the same endpoints with the same shapes — in-process through httpx2's
ASGITransport or on a real socket through uvicorn — so the client is exercised end to end,
including its retries, against failures chosen by the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from truthscan_mcp.sandbox.api import TruthScanAPI
from truthscan_mcp.sandbox.config import API_ENDPOINTS, STORAGE_ENDPOINT, SandboxConfig, SandboxStats
from truthscan_mcp.sandbox.control import ControlPlane
from truthscan_mcp.sandbox.faults import (
    BODY_REWRITES,
    REFUSALS,
    ConnectionDropped,
    FaultBook,
    FaultRule,
    drop_connection,
    rewritten_body,
    status_response,
)
from truthscan_mcp.sandbox.state import SandboxState

SIMULATED_HEADER: Final = (b"x-truthscan-simulated", b"true")
_DELAY: Final = frozenset({"delay"})


class Sandbox:
    """One simulated TruthScan: its accounts, uploads, documents, faults and HTTP app.

    `config` may be replaced or mutated at any time; each request reads it afresh. Every
    method is safe to call from another thread than the one serving `app`.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config: SandboxConfig = config if config is not None else SandboxConfig()
        self.state = SandboxState()
        self.faults = FaultBook()
        #: Monotonic seconds; replaceable so a test can drive document time by hand.
        self.clock: Callable[[], float] = time.monotonic
        self.app: Starlette = Starlette(
            routes=[*TruthScanAPI(self).routes(), *ControlPlane(self).routes()],
            middleware=[Middleware(SandboxMiddleware, sandbox=self)],
            exception_handlers={HTTPException: _http_exception, Exception: _server_error},
        )

    def add_fault(self, rule: FaultRule) -> None:
        self.faults.add(rule)

    def clear_faults(self) -> None:
        self.faults.clear()

    def fault_rules(self) -> list[FaultRule]:
        """Rules still armed; `times` shows how many uses each has left."""
        return self.faults.rules()

    def reset(self) -> None:
        """Forget documents, accounts, uploads, stats and faults (the config is kept)."""
        self.state.clear()
        self.faults.clear(reseed=True)

    @property
    def stats(self) -> SandboxStats:
        """A consistent snapshot of the counters."""
        return self.state.snapshot_stats()

    def credits_of(self, key: str) -> int:
        """The key's total credits (opening its account on first use, like the API would)."""
        account = self.state.account(key, self.config)
        if account is None:
            raise ValueError("this key is configured as invalid: it has no account")
        return account.total

    def set_credits(self, key: str, base: int, boost: int = 0) -> None:
        self.state.set_credits(key, base, boost)


def create_app(config: SandboxConfig | None = None) -> Sandbox:
    return Sandbox(config)


def endpoint_for(path: str) -> str | None:
    """The stats/fault name of the endpoint `path` reaches; None for the control plane and 404s."""
    exact = {
        "/get-presigned-url": "presign",
        "/detect": "detect",
        "/query": "query",
        "/check-user-credits": "credits",
        "/health": "health",
    }
    if path in exact:
        return exact[path]
    if path.startswith("/storage-upload/"):
        return "upload"
    if path.startswith("/storage/heatmaps/"):
        return "heatmap"
    if path.startswith("/storage/"):
        return STORAGE_ENDPOINT
    return None


class SandboxMiddleware:
    """Marks every response as simulated, counts requests, and applies faults around the API.

    Pure ASGI rather than Starlette's BaseHTTPMiddleware: a "reset" needs the server's own
    `receive` to reach the socket, and body rewrites need the raw response messages.
    """

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self._app = app
        self._sandbox = sandbox

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
        state = self._sandbox.state
        state.count_request(endpoint)
        try:
            if endpoint in API_ENDPOINTS:
                await self._serve_with_faults(endpoint, scope, receive, send)
            else:
                await self._app(scope, receive, send)
        finally:
            state.request_done()

    async def _serve_with_faults(self, endpoint: str, scope: Scope, receive: Receive, send: Send) -> None:
        faults, seed = self._sandbox.faults, self._sandbox.config.seed
        delay = faults.take(endpoint, _DELAY, seed)
        if delay is not None:
            await anyio.sleep(delay.delay_seconds)
        refusal = faults.take(endpoint, REFUSALS, seed)
        if refusal is not None and refusal.kind == "reset":
            await drop_connection(receive, body_pending=True)
            return
        if refusal is not None:
            await status_response(refusal)(scope, receive, send)
            return
        rewrite = faults.take(endpoint, BODY_REWRITES, seed)
        tracked = _TrackedReceive(receive)
        try:
            await self._app(scope, tracked, send if rewrite is None else _RewritingSend(send, rewrite.kind))
        except ConnectionDropped:
            await drop_connection(receive, body_pending=not tracked.body_done)


def _marked(send: Send) -> Send:
    async def marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), SIMULATED_HEADER]}
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


async def _http_exception(request: Request, exc: Exception) -> Response:
    """FastAPI's shape for 404/405: `{"detail": "Not Found"}`."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, exc.status_code, exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Sent by Starlette's outermost error middleware, outside ours: mark it here.
    return JSONResponse({"error": "Internal Server Error"}, 500, {"X-TruthScan-Simulated": "true"})
