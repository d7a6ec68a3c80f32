"""The product's client and detector aimed at the loopback sandbox, with fast test timings."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx2
from pydantic import SecretStr

from tests.support.constants import FAST_POLL, FAST_RETRY, KEY
from tests.support.settings import make_settings
from truthscan_mcp.api.client import RetryPolicy, TruthScanClient, make_http_client
from truthscan_mcp.detection.detector import Detector
from truthscan_mcp.detection.schedule import Planner

if TYPE_CHECKING:
    from tests.support.servers import SandboxServer


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
) -> AsyncGenerator[TruthScanClient]:
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
    schedule: Planner = FAST_POLL,
) -> AsyncGenerator[Detector]:
    async with open_client(server, key=key, retry=retry, read=read) as client:
        settings = make_settings(server, api_key=key, cache_path=None, wait_seconds=10.0)
        yield Detector(client, settings, schedule=schedule)
