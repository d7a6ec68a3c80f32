"""The shared client stack one server (or one terminal run) works with, built and torn down once.

Kept apart from `adapter/` so the command line's `detect` gets the whole detection stack
without importing the MCP SDK, which is most of a cold start.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx2
from pydantic import SecretStr

from truthscan_mcp import __version__
from truthscan_mcp.api.client import TruthScanClient, make_http_client
from truthscan_mcp.api.sending import Deadlines, RetryPolicy
from truthscan_mcp.cache.store import ResultCache, open_cache
from truthscan_mcp.detection.detector import Detector
from truthscan_mcp.detection.images import ImageSink
from truthscan_mcp.detection.schedule import MemoryDurations, Planner
from truthscan_mcp.errors import ConfigurationError, TruthScanError
from truthscan_mcp.media.uploads import UploadStore
from truthscan_mcp.models import Health, History
from truthscan_mcp.settings import SANDBOX_BASE_URL, Settings

if TYPE_CHECKING:
    from truthscan_mcp.cache.postgres import PostgresStore
    from truthscan_mcp.sandbox import Sandbox

    #: the SQLite file of one machine, or the PostgreSQL store of a team's replicas
    Store = ResultCache | PostgresStore

POSTGRES_MISSING = (
    "TRUTHSCAN_CACHE_URL names a PostgreSQL store, but psycopg is not installed. Install the "
    "postgres extra: pip install 'truthscan-mcp[postgres]' (or uv tool install 'truthscan-mcp[postgres]')."
)


@asynccontextmanager
async def open_store(
    settings: Settings, *, service: str, history_prefix: str | None
) -> AsyncGenerator[Store | None]:
    """The shared PostgreSQL store when TRUTHSCAN_CACHE_URL is set, else the SQLite file (or none)."""
    if settings.cache_url is None:
        async with open_cache(settings.cache_path, service=service, history_prefix=history_prefix) as cache:
            yield cache
        return
    try:
        from truthscan_mcp.cache.postgres import open_postgres
    except ImportError as exc:  # the extra is not installed
        raise ConfigurationError(POSTGRES_MISSING) from exc
    url = settings.cache_url.get_secret_value()
    async with open_postgres(url, service=service, history_prefix=history_prefix) as shared:
        yield shared


class UploadPages(Protocol):
    """Where the upload page of `request_image` is served (the MCP server's `UploadDesk`)."""

    async def base_url(self, request: object | None) -> str:
        """`http://host:port/` as the person's browser reaches it (`request`: the HTTP request
        the tool call came in, if any)."""
        ...


@dataclass
class AppContext:
    """What the lifespan owns: one HTTP connection pool shared by every call."""

    settings: Settings
    http: httpx2.AsyncClient
    client: TruthScanClient
    detector: Detector
    #: the result cache (None when TRUTHSCAN_CACHE_PATH is off), or a team's shared store
    store: Store | None = None
    #: where detections leave their images for a viewer (the MCP server's evidence view); None
    #: for the command line. The tools hand it to the detector only for clients that show it.
    images: ImageSink | None = None
    #: images people hand over through `request_image` (the MCP server's; None for the command line)
    uploads: UploadStore | None = None
    #: where the upload page is served (None: no page, e.g. the command line)
    upload_pages: UploadPages | None = None


def _effective_settings(settings: Settings) -> Settings:
    if settings.sandbox:
        return settings.model_copy(
            update={"api_url": SANDBOX_BASE_URL, "storage_url": f"{SANDBOX_BASE_URL}/storage"}
        )
    return settings


@asynccontextmanager
async def open_app(
    settings: Settings,
    sandbox: Sandbox | None = None,
    *,
    retry: RetryPolicy | None = None,
    schedule: Planner | None = None,
    deadlines: Deadlines | None = None,
    images: ImageSink | None = None,
    uploads: UploadStore | None = None,
    upload_pages: UploadPages | None = None,
) -> AsyncGenerator[AppContext]:
    """Build the shared client stack; also used by the command line's `detect`.

    `retry`, `schedule` and `deadlines` (each API operation's total time) default to the
    product's (the poll `Planner` learns from the result cache, or from memory when the cache is
    off); tests that are not about waiting pass millisecond ones, and benchmarks compare
    schedules, without patching the package. `images` is carried as `AppContext.images` (the
    server's evidence view passes its image store), `uploads` as `AppContext.uploads` and to
    the detector (the server's store of uploaded images).
    """
    transport: httpx2.AsyncBaseTransport | None = None
    if settings.sandbox:
        if sandbox is None:
            from truthscan_mcp.sandbox import Sandbox

            sandbox = Sandbox()
        transport = httpx2.ASGITransport(app=sandbox.app)
    settings = _effective_settings(settings)
    # A simulator's ids mean nothing to another instance: its own namespace in the cache, while
    # the history shows every run's (each `--sandbox` run is a new instance).
    service, history_prefix = settings.api_url, None
    if settings.sandbox and sandbox is not None:
        service = sandbox.namespace
        history_prefix = sandbox.namespace.partition("://")[0] + "://"  # the scheme: every instance

    async with (
        make_http_client(transport=transport) as http,
        open_store(settings, service=service, history_prefix=history_prefix) as store,
    ):
        client = _client(http, settings, retry, deadlines)
        if schedule is None:
            schedule = Planner(store if store is not None else MemoryDurations(), api_url=settings.api_url)
        detector = Detector(
            client, settings, schedule=schedule, store=store, simulated=settings.sandbox, uploads=uploads
        )
        yield AppContext(
            settings=settings,
            http=http,
            client=client,
            detector=detector,
            store=store,
            images=images,
            uploads=uploads,
            upload_pages=upload_pages,
        )


def _client(
    http: httpx2.AsyncClient, settings: Settings, retry: RetryPolicy | None, deadlines: Deadlines | None
) -> TruthScanClient:
    """The one API client of a run, on its shared pool (`settings` already effective)."""
    key = settings.effective_api_key()
    return TruthScanClient(
        http,
        api_url=settings.api_url,
        storage_url=settings.storage_url,
        api_key=SecretStr(key) if key else None,
        retry=retry,
        deadlines=deadlines,
        allow_private=settings.allow_private_urls,
        hints=settings.hints,
    )


async def read_history(app: AppContext, user: str | None = None) -> History:
    """The recent answers, with today's paid count and the daily cap beside them (`user`'s
    alone, when they are kept per user)."""
    guard = app.detector.guard
    today = {"detections_today": await guard.today(user), "daily_limit": guard.daily_limit}
    if app.store is None:
        return History(cache="off", detections=[], **today)
    return (await app.store.history(user=user)).model_copy(update=today)


async def check_health(app: AppContext) -> Health:
    """Health never fails as a tool: an unreachable service is a finding, not an error."""
    base: dict[str, Any] = {
        "api_key_configured": app.settings.api_key is not None,
        "sandbox": app.settings.sandbox,
        "server_version": __version__,
    }
    try:
        answer = await app.client.health()
    except TruthScanError as exc:
        return Health(status=None, timestamp=None, reachable=False, error=exc.message, **base)
    base["sandbox"] = app.settings.sandbox or app.client.simulated
    return Health(
        status=answer.status,
        timestamp=answer.timestamp,
        reachable=True,
        latency_ms=answer.latency_ms,
        **base,
    )
