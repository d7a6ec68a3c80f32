"""Shared fixtures: one real sandbox server per session, reset before each test that uses it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import pytest

from truthscan_mcp.sandbox import Sandbox, SandboxConfig, serve_in_thread


def short_sandbox_config() -> SandboxConfig:
    """Timings short enough for tests, long enough to observe every intermediate state."""
    return SandboxConfig(processing_seconds=0.6, analysis_seconds=0.4, heatmap_seconds=0.3)


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


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    sandbox = Sandbox(short_sandbox_config())
    with serve_in_thread(sandbox) as base_url:
        yield SandboxServer(sandbox, base_url)


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The session's sandbox server, as good as new: state, faults and config restored."""
    sandbox_server.sandbox.config = short_sandbox_config()
    sandbox_server.sandbox.clock = time.monotonic
    sandbox_server.sandbox.reset()
    return sandbox_server


LOOPBACK = {"127.0.0.1", "::1"}


@dataclass
class ConnectLog:
    hosts: list[str] = field(default_factory=list[str])


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> ConnectLog:
    """Record every outgoing TCP connection and fail on any non-loopback target: for modules whose
    tests reason about addresses (`pytestmark = pytest.mark.usefixtures("loopback_only")`)."""
    log = ConnectLog()
    real_connect = cast(Callable[..., Awaitable[Any]], anyio.connect_tcp)

    async def guarded_connect(remote_host: str, remote_port: int, **kwargs: Any) -> Any:
        log.hosts.append(str(remote_host))
        assert str(remote_host) in LOOPBACK, f"test tried to connect to {remote_host}"
        return await real_connect(remote_host, remote_port, **kwargs)

    monkeypatch.setattr(anyio, "connect_tcp", guarded_connect)
    return log
