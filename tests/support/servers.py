"""Real servers on loopback: the shared sandbox, any ASGI app under uvicorn, a scripted API."""

from __future__ import annotations

import socket
import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support.waiting import wait_until
from truthscan_mcp.sandbox import Sandbox, SandboxConfig


def short_sandbox_config() -> SandboxConfig:
    """Timings short enough for tests, long enough to observe every intermediate state."""
    return SandboxConfig(processing_seconds=0.2, analysis_seconds=0.15, heatmap_seconds=0.1)


def quick_sandbox() -> Sandbox:
    """An in-process simulator that settles a detection by the client's first poll."""
    return Sandbox(SandboxConfig(processing_seconds=0.1, analysis_seconds=0.05, heatmap_seconds=0.05))


@dataclass(frozen=True)
class SandboxServer:
    """A sandbox served by uvicorn on a loopback port, and the URLs to reach it."""

    sandbox: Sandbox
    base_url: str

    @property
    def api_url(self) -> str:
        return self.base_url

    @property
    def storage_url(self) -> str:
        return f"{self.base_url}/storage"


def fast_sandbox(server: SandboxServer) -> None:
    """Document timings of a few hundred milliseconds: every state still shows, briefly."""
    config = server.sandbox.config
    config.processing_seconds = 0.15
    config.analysis_seconds = 0.1
    config.heatmap_seconds = 0.05


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_app(
    app: ASGIApp, *, lifespan: Literal["auto", "on", "off"] = "off", port: int = 0
) -> Generator[str]:
    """Serve an ASGI app with uvicorn on a loopback port (a free one unless `port` is given: an app
    that must know its own URL before it serves, like an OAuth resource); yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        app, http="h11", loop="asyncio", lifespan=lifespan, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=15)
        assert server.started, "the test server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# --- a scripted stand-in for answers the sandbox never gives ----------------------------------


@dataclass(frozen=True)
class Canned:
    """One scripted HTTP answer."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    media_type: str = "application/json"


@dataclass
class ScriptedAPI:
    """A real HTTP server that answers each request with the next canned answer (the last repeats).

    For error bodies real gateways and services produce but the sandbox does not (an HTML
    error page, an HTTP-date Retry-After, a message echoing the caller's key): the client's
    parsing is then exercised over a real socket, byte for byte.
    """

    answers: list[Canned]
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(
        default_factory=list[tuple[str, str, dict[str, str], bytes]]
    )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        self.seen.append((request.method, request.url.path, dict(request.headers), body))
        canned = self.answers[min(len(self.seen), len(self.answers)) - 1]
        response = Response(canned.body, canned.status, dict(canned.headers), media_type=canned.media_type)
        await response(scope, receive, send)


@dataclass
class StaticSite:
    """A real web site on loopback, by path: pages and images for the page-sweep tests (a path
    it does not know answers 404); `seen` lists every path requested, in order."""

    files: dict[str, Canned] = field(default_factory=dict[str, Canned])
    seen: list[str] = field(default_factory=list[str])

    def page(self, path: str, html: str, media_type: str = "text/html; charset=utf-8") -> None:
        self.files[path] = Canned(200, html.encode(), media_type=media_type)

    def image(self, path: str, content: bytes, media_type: str = "application/octet-stream") -> None:
        self.files[path] = Canned(200, content, media_type=media_type)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.files[path] = Canned(status, b"", (("location", location),), media_type="text/plain")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        self.seen.append(request.url.path)
        canned = self.files.get(request.url.path) or Canned(404, b"no such file", media_type="text/plain")
        response = Response(canned.body, canned.status, dict(canned.headers), media_type=canned.media_type)
        await response(scope, receive, send)
