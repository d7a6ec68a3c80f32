"""Building blocks shared by the client, workflow, fault, secrets and soak tests.

Everything here talks to a real sandbox over loopback HTTP: the helpers only shorten the
waits (retry backoff, polling, read timeouts) so that a fault that costs a real client
seconds costs a test milliseconds, without changing what the client does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx2
import uvicorn
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

import truthscan_mcp.samples
from truthscan_mcp.api.client import RetryPolicy, TruthScanClient, make_http_client
from truthscan_mcp.detection.detector import Detector
from truthscan_mcp.detection.polling import PollSchedule
from truthscan_mcp.sandbox import SandboxStats
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from tests.conftest import SandboxServer

KEY = "test-key"
SAMPLES = Path(truthscan_mcp.samples.__file__).parent
AI_PNG = SAMPLES / "ai-generated.png"  # "AI Generated", score ≈ 99: gets a heatmap
CAMERA_JPG = SAMPLES / "camera-photo.jpg"  # "Real", score ≈ 14: never gets a heatmap

#: Retries as the product does them, only with waits in milliseconds.
FAST_RETRY = RetryPolicy(
    attempts=4, timeout=5.0, wait_initial=0.02, wait_max=0.1, wait_jitter=0.02, max_retry_after=5.0
)
#: Polls at least every 50 ms, so a 0.2 s sandbox job is noticed at once.
FAST_POLL = PollSchedule(first=0.05, share=0.2, minimum=0.05, maximum=0.1)
#: A read timeout short enough that a sandbox "delay" fault of 1 s trips it.
SHORT_READ = 0.5


def settings_for(server: SandboxServer, *, key: str = KEY, **overrides: object) -> Settings:
    """Settings aimed at the loopback sandbox, with the sample images allowed and no cache."""
    values: dict[str, object] = {
        "api_key": SecretStr(key),
        "api_url": server.api_url,
        "storage_url": server.storage_url,
        "allowed_dirs": [SAMPLES],
        "cache_path": None,
        "wait_seconds": 10.0,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def http_client(*, read: float | None = None) -> httpx2.AsyncClient:
    """The product's shared pool, optionally with a short read timeout for timeout faults."""
    http = make_http_client()
    if read is not None:
        http.timeout = httpx2.Timeout(connect=2.0, read=read, write=5.0, pool=2.0)
    return http


@asynccontextmanager
async def open_client(
    server: SandboxServer,
    *,
    key: str | None = KEY,
    retry: RetryPolicy = FAST_RETRY,
    read: float | None = None,
    api_url: str | None = None,
) -> AsyncIterator[TruthScanClient]:
    async with http_client(read=read) as http:
        yield TruthScanClient(
            http,
            api_url=api_url or server.api_url,
            storage_url=server.storage_url,
            api_key=SecretStr(key) if key is not None else None,
            retry=retry,
        )


@asynccontextmanager
async def open_detector(
    server: SandboxServer,
    *,
    key: str = KEY,
    retry: RetryPolicy = FAST_RETRY,
    read: float | None = None,
    schedule: PollSchedule = FAST_POLL,
) -> AsyncIterator[Detector]:
    async with open_client(server, key=key, retry=retry, read=read) as client:
        yield Detector(client, settings_for(server, key=key), schedule=schedule)


def fast_sandbox(server: SandboxServer) -> None:
    """Document timings of a few hundred milliseconds: every state still shows, briefly."""
    config = server.sandbox.config
    config.processing_seconds = 0.15
    config.analysis_seconds = 0.1
    config.heatmap_seconds = 0.05


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `condition()` holds: it reads state another thread changes, so it is polled."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - no event to wait on across threads
            await anyio.sleep(0.01)


async def wait_until_idle(server: SandboxServer, timeout: float = 5.0) -> SandboxStats:
    """Stats once no request is being served (a delayed fault may still be sleeping)."""
    await eventually(lambda: server.sandbox.stats.in_flight == 0, timeout)
    return server.sandbox.stats


async def assert_quiet(server: SandboxServer, seconds: float = 0.5) -> None:
    """Nothing is still talking to the sandbox: no request arrives during a quiet period."""
    before = await wait_until_idle(server)
    await anyio.sleep(seconds)
    after = server.sandbox.stats
    assert after.requests == before.requests, "requests kept arriving after the call ended"
    assert after.in_flight == 0


class Stopwatch:
    """Wall-clock time of a block, for asserting lower bounds (upper bounds are flaky on CI)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> Stopwatch:
        self.started = self._clock()
        return self

    def __exit__(self, *_: object) -> None:
        self.elapsed = self._clock() - self.started


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


@contextmanager
def serve_app(app: ASGIApp) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, http="h11", loop="asyncio", lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "the test server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
