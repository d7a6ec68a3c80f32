"""The stdio server's upload listener against clients that are not polite: it cannot be starved.

Under stdio the first `request_image` starts a loopback listener in the server process. Any
local program can connect to it, so it gets the HTTP transport's defence (`adapter/connections`):
connections capped below the descriptor limit, the longest-idle closed first, and a header
timeout. The server runs as a desktop app spawns it (`python -m truthscan_mcp` over stdio, here
under a lowered descriptor limit) and is asked through the SDK client; loopback only.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from tests.support import live_env, scrub_truthscan_env, structured
from tests.support.servers import SandboxServer

pytestmark = pytest.mark.anyio

#: The server's descriptor limit in these tests, and more half-open connections than that.
FD_LIMIT = 256
HALF_OPEN = 300

#: `python -m truthscan_mcp` with at most FD_LIMIT descriptors (the test keeps its own limit).
_LIMITED_SERVER = (
    "import resource, runpy, sys\n"
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT}))\n"
    "sys.argv = ['truthscan-mcp']\n"
    "runpy.run_module('truthscan_mcp', run_name='__main__', alter_sys=True)\n"
)


@pytest.fixture(autouse=True)
def _no_user_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    scrub_truthscan_env(monkeypatch)


@pytest.fixture
async def limited_client(sandbox: SandboxServer) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", _LIMITED_SERVER],
        env=live_env(sandbox, TRUTHSCAN_CACHE_PATH="off", TRUTHSCAN_LOG_LEVEL="WARNING"),
    )
    async with Client(params) as client:
        yield client


def _half_open(port: int, count: int) -> list[socket.socket]:
    """`count` connections that start a request and never finish its headers."""
    opened: list[socket.socket] = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /upload/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        opened.append(sock)
    return opened


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    deadline = time.monotonic() + within
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if sock.recv(1024) == b"":
                return True
    except TimeoutError:
        return False
    except OSError:  # reset
        return True
    return False


async def _request_image(client: Client) -> tuple[str, int]:
    upload = structured(await client.call_tool("request_image", {}))
    url = upload["upload_url"]
    return url, int(url.split(":")[2].split("/")[0])


@pytest.mark.skipif(sys.platform == "win32", reason="descriptor limits are POSIX")
async def test_more_half_open_connections_than_descriptors_do_not_starve_the_upload_page(
    limited_client: Client,
) -> None:
    url, port = await _request_image(limited_client)
    sockets = await anyio.to_thread.run_sync(_half_open, port, HALF_OPEN)
    try:
        await anyio.sleep(0.5)
        # Before: the listener took every descriptor it was offered; the page never answered
        # and the server itself could open nothing more.
        page = await anyio.to_thread.run_sync(lambda: httpx2.get(url, timeout=20))
        with anyio.fail_after(20):
            health = structured(await limited_client.call_tool("health", {}))
    finally:
        for sock in sockets:
            sock.close()
    assert page.status_code == 200
    assert "drop" in page.text.lower()
    assert health["reachable"] is True


async def test_a_connection_to_the_upload_page_that_never_finishes_its_headers_is_closed(
    limited_client: Client,
) -> None:
    from truthscan_mcp.adapter.connections import HEADER_TIMEOUT

    url, port = await _request_image(limited_client)
    sockets = await anyio.to_thread.run_sync(_half_open, port, 3)
    try:
        started = time.monotonic()
        closed = [
            await anyio.to_thread.run_sync(_closed_by_server, sock, HEADER_TIMEOUT + 10) for sock in sockets
        ]
        waited = time.monotonic() - started
    finally:
        for sock in sockets:
            sock.close()
    assert closed == [True, True, True]
    assert waited >= HEADER_TIMEOUT - 1
    assert (await anyio.to_thread.run_sync(lambda: httpx2.get(url, timeout=10))).status_code == 200
