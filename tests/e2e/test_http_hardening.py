"""The streamable HTTP transport against clients that are not polite: it cannot be starved.

A server process (`serve --transport http`, run as a user runs it) under a lowered descriptor
limit meets connections that never finish their headers, more of them than it has descriptors;
a legitimate `health` must still be answered and stderr must stay small. A plain `GET /mcp`
must not open an event stream that never ends (the transport is stateless: it offers none), and
a browser page from an allowed origin must get real CORS answers (a preflight answered, the
headers it needs allowed and exposed) while any other origin is refused. Everything is on
loopback, with bounded connection counts and time.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx2
import psutil
import pytest
from mcp import Client

from tests.support import child_env, free_port, make_settings, serve_app, structured
from tests.support.half_open import closed_by_server, half_open
from truthscan_mcp.adapter.transports import build_http_app

if TYPE_CHECKING:
    from tests.support import SandboxServer

#: The server's descriptor limit in these tests, and more half-open connections than that.
FD_LIMIT = 256
HALF_OPEN = 300
ALLOWED_ORIGIN = "https://newsroom.example"
FOREIGN_ORIGIN = "https://evil.example"
TOKEN = "http-token-for-tests-0123456789-abcdefghijkl"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "cors", "version": "1"},
    },
}
#: What a browser MCP client asks to send (the SDK's headers and a bearer token).
REQUESTED_HEADERS = ("content-type", "mcp-protocol-version", "mcp-session-id", "authorization")
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


# --- a server process under a descriptor limit ---------------------------------------------------


pytestmark = pytest.mark.usefixtures("no_user_configuration")


@dataclass(frozen=True)
class ServerProcess:
    url: str
    port: int
    process: psutil.Process
    stderr: Path


def _lower_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """`truthscan-mcp serve --sandbox --transport http` with at most FD_LIMIT descriptors."""
    port = free_port()
    stderr = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "truthscan_mcp", "serve", "--sandbox", "--transport", "http"]
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=_lower_descriptor_limit,  # only this child: the test keeps its own limit
        )
        try:
            _wait_for_port(port, process, stderr)
            yield ServerProcess(f"http://127.0.0.1:{port}/mcp", port, psutil.Process(process.pid), stderr)
        finally:
            process.terminate()
            process.wait(timeout=15)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port}")


async def _health(url: str, within: float) -> dict[str, object]:
    with anyio.fail_after(within):
        async with Client(url) as client:
            result = await client.call_tool("health", {})
    assert not result.is_error
    return structured(result)


@pytest.mark.anyio
async def test_more_half_open_connections_than_descriptors_do_not_starve_health(
    limited_server: ServerProcess,
) -> None:
    sockets = half_open(limited_server.port, HALF_OPEN, request_line=b"POST /mcp HTTP/1.1")
    try:
        await anyio.sleep(0.5)
        # Before: every descriptor held (256 of 256), `health` timed out, and asyncio logged
        # "socket.accept() out of system resource" ~3,000 times a second.
        started = time.monotonic()
        health = await _health(limited_server.url, within=20)
        answered = time.monotonic() - started
        descriptors = limited_server.process.num_fds()
    finally:
        for sock in sockets:
            sock.close()
    assert health["sandbox"] is True
    assert answered < 20
    assert descriptors < FD_LIMIT - 16, f"the server holds {descriptors} of {FD_LIMIT} descriptors"
    log = limited_server.stderr.read_text(errors="replace")
    assert log.count("out of system resource") <= 1  # rate-limited, were it ever to happen
    assert len(log) < 64 * 1024, f"stderr grew to {len(log)} bytes"


@pytest.mark.anyio
async def test_a_connection_that_never_finishes_its_headers_is_closed(limited_server: ServerProcess) -> None:
    from truthscan_mcp.adapter.connections import HEADER_TIMEOUT

    sockets = half_open(limited_server.port, 3, request_line=b"POST /mcp HTTP/1.1")
    try:
        started = time.monotonic()
        assert all(closed_by_server(sock, within=HEADER_TIMEOUT + 10) for sock in sockets)
        assert time.monotonic() - started >= HEADER_TIMEOUT - 1
    finally:
        for sock in sockets:
            sock.close()
    await _health(limited_server.url, within=20)


# --- GET /mcp: no stream is offered -------------------------------------------------------------


@pytest.fixture(scope="module")
def cors_server(sandbox_server: SandboxServer) -> Iterator[str]:
    """The loopback transport with one allowed browser origin; its base URL."""
    settings = make_settings(sandbox_server, http_allowed_origins=ALLOWED_ORIGIN)
    with serve_app(build_http_app(settings, "127.0.0.1"), lifespan="on") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def remote_cors_server(sandbox_server: SandboxServer) -> Iterator[str]:
    """The app as built for a public bind (token required) with one allowed origin, on loopback."""
    settings = make_settings(sandbox_server, http_token=TOKEN, http_allowed_origins=ALLOWED_ORIGIN)
    with serve_app(build_http_app(settings, "0.0.0.0"), lifespan="on") as base_url:
        yield base_url


def test_a_plain_get_of_mcp_is_405_not_an_endless_event_stream(cors_server: str) -> None:
    headers = {"accept": "text/event-stream"}
    started = time.monotonic()
    with httpx2.stream("GET", f"{cors_server}/mcp", headers=headers, timeout=5) as response:
        body = response.read()  # before: 200 and a stream that never ended (this read timed out)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert "text/event-stream" not in response.headers.get("content-type", "")
    assert b"POST" in body
    assert time.monotonic() - started < 5


def test_many_gets_of_mcp_hold_no_descriptors(cors_server: str) -> None:
    me = psutil.Process(os.getpid())  # the server runs in this process's thread
    before = me.num_fds()
    with httpx2.Client(timeout=5) as http:
        statuses = {
            http.get(f"{cors_server}/mcp", headers={"accept": "text/event-stream"}).status_code
            for _ in range(50)
        }
    assert statuses == {405}
    assert me.num_fds() - before < 10


# --- CORS for the allowed origins ---------------------------------------------------------------


def _preflight(base_url: str, origin: str) -> httpx2.Response:
    return httpx2.options(
        f"{base_url}/mcp",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": ", ".join(REQUESTED_HEADERS),
        },
        timeout=10,
    )


@pytest.mark.parametrize("server", ["cors_server", "remote_cors_server"])
def test_a_preflight_from_an_allowed_origin_is_answered(server: str, request: pytest.FixtureRequest) -> None:
    # A browser sends no token with a preflight: it must be answered without one.
    response = _preflight(request.getfixturevalue(server), ALLOWED_ORIGIN)
    assert response.status_code in (200, 204), response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in REQUESTED_HEADERS:
        assert header in allowed


@pytest.mark.parametrize("server", ["cors_server", "remote_cors_server"])
def test_a_preflight_from_a_foreign_origin_is_refused(server: str, request: pytest.FixtureRequest) -> None:
    response = _preflight(request.getfixturevalue(server), FOREIGN_ORIGIN)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_a_request_from_an_allowed_origin_carries_the_cors_headers(cors_server: str) -> None:
    response = httpx2.post(
        f"{cors_server}/mcp",
        content=json.dumps(INITIALIZE),
        headers={**MCP_HEADERS, "origin": ALLOWED_ORIGIN},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "mcp-session-id" in exposed
    assert "mcp-protocol-version" in exposed


def test_a_refusal_for_a_missing_token_is_readable_by_the_allowed_page(remote_cors_server: str) -> None:
    response = httpx2.post(
        f"{remote_cors_server}/mcp",
        content=json.dumps(INITIALIZE),
        headers={**MCP_HEADERS, "origin": ALLOWED_ORIGIN},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
