"""The stdio server's upload listener against clients that are not polite: it cannot be starved.

Under stdio the first `request_image` starts a loopback listener in the server process. Any
local program can connect to it, so it gets the HTTP transport's defence (`adapter/connections`):
connections capped below the descriptor limit, the longest-idle closed first, and a header
timeout. The server runs as a desktop app spawns it (`python -m truthscan_mcp` over stdio, here
under a lowered descriptor limit) and is asked through the SDK client; loopback only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from tests.support import live_env, structured
from tests.support.half_open import closed_by_server, half_open
from tests.support.servers import SandboxServer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_user_configuration")]
#: a request for the upload page that never finishes its headers
UPLOAD_REQUEST = b"GET /upload/x HTTP/1.1"

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


@pytest.fixture
async def limited_client(sandbox: SandboxServer) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", _LIMITED_SERVER],
        env=live_env(sandbox, TRUTHSCAN_CACHE_PATH="off", TRUTHSCAN_LOG_LEVEL="WARNING"),
    )
    async with Client(params) as client:
        yield client


async def _request_image(client: Client) -> tuple[str, int]:
    upload = structured(await client.call_tool("request_image", {}))
    url = upload["upload_url"]
    return url, int(url.split(":")[2].split("/")[0])


@pytest.mark.skipif(sys.platform == "win32", reason="descriptor limits are POSIX")
async def test_more_half_open_connections_than_descriptors_do_not_starve_the_upload_page(
    limited_client: Client,
) -> None:
    url, port = await _request_image(limited_client)
    sockets = await anyio.to_thread.run_sync(lambda: half_open(port, HALF_OPEN, request_line=UPLOAD_REQUEST))
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
    sockets = await anyio.to_thread.run_sync(lambda: half_open(port, 3, request_line=UPLOAD_REQUEST))
    try:
        started = time.monotonic()
        closed = [
            await anyio.to_thread.run_sync(closed_by_server, sock, HEADER_TIMEOUT + 10) for sock in sockets
        ]
        waited = time.monotonic() - started
    finally:
        for sock in sockets:
            sock.close()
    assert closed == [True, True, True]
    assert waited >= HEADER_TIMEOUT - 1
    assert (await anyio.to_thread.run_sync(lambda: httpx2.get(url, timeout=10))).status_code == 200
