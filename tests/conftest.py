"""Fixtures every tier shares: one real sandbox server per session, reset before each test that
uses it, the loopback-only connection guard, and the settings of the image-source tests.
Helpers live in tests/support/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ConnectLog, SandboxServer, short_sandbox_config
from tests.support.guards import guard_loopback
from truthscan_mcp.sandbox import Sandbox, serve_in_thread
from truthscan_mcp.settings import Settings


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


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> ConnectLog:
    """Fail on any non-loopback connection, and log the targets: for modules whose tests reason
    about addresses (`pytestmark = pytest.mark.usefixtures("loopback_only")`)."""
    return guard_loopback(monkeypatch)


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    """A fresh folder that the source tests' settings allow (a module may define its own)."""
    directory = tmp_path / "allowed"
    directory.mkdir()
    return directory


@pytest.fixture
def cfg(allowed: Path) -> Settings:
    """Only `allowed` may be read, private URLs are refused, no cache."""
    return Settings(allowed_dirs=[allowed], allow_private_urls=False, cache_path=None)
