"""The streamable HTTP transport: MCP over real HTTP on loopback, and the guards in front of it.

The app is built with `serve.build_http_app` and run by uvicorn on a free loopback port (one
test also runs the `serve --transport http` command itself). Nothing here binds or connects to
anything but 127.0.0.1: non-loopback hosts appear only as arguments to the refusal check.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support import (
    CAMERA_JPG,
    PROTOCOL_MODES,
    TOOL_NAMES,
    ProgressLog,
    free_port,
    live_env,
    make_settings,
    serve_app,
    structured,
)
from truthscan_mcp.adapter.transports import MAX_HTTP_BODY, MIN_TOKEN_LENGTH, build_http_app, serve
from truthscan_mcp.cli import main as cli
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = pytest.mark.usefixtures("no_user_configuration")


TOKEN = "http-token-for-tests-0123456789-abcdefghijkl"  # tokens need 32+ characters
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "http-test", "version": "1"},
    },
}


@pytest.fixture(scope="module")
def http_server(sandbox_server: SandboxServer) -> Iterator[str]:
    """The HTTP transport bound to loopback, without a token; its base URL."""
    app = build_http_app(make_settings(sandbox_server), "127.0.0.1")
    with serve_app(app, lifespan="on") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def token_server(sandbox_server: SandboxServer) -> Iterator[str]:
    """The HTTP transport on loopback with TRUTHSCAN_HTTP_TOKEN configured."""
    app = build_http_app(make_settings(sandbox_server, http_token=TOKEN), "127.0.0.1")
    with serve_app(app, lifespan="on") as base_url:
        yield base_url


ALLOWED_ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def remote_token_server(sandbox_server: SandboxServer) -> Iterator[str]:
    """The app as built for a non-loopback bind (0.0.0.0) with a token and one allowed Origin.

    It is served on 127.0.0.1 all the same: only the app's configuration is that of a remote bind.
    """
    settings = make_settings(sandbox_server, http_token=TOKEN, http_allowed_origins=ALLOWED_ORIGIN)
    with serve_app(build_http_app(settings, "0.0.0.0"), lifespan="on") as base_url:
        yield base_url


def post_initialize(base_url: str, **headers: str) -> httpx2.Response:
    return httpx2.post(
        f"{base_url}/mcp", content=json.dumps(INITIALIZE), headers={**MCP_HEADERS, **headers}, timeout=10
    )


# --- MCP over HTTP --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_http_client_lists_the_contract_tools(http_server: str, mode: str) -> None:
    async with Client(f"{http_server}/mcp", mode=mode) as client:
        tools = (await client.list_tools()).tools
        assert client.instructions
    assert {tool.name for tool in tools} == TOOL_NAMES


@pytest.mark.anyio
@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_http_detect_image_streams_progress_notifications(
    http_server: str, sandbox: SandboxServer, mode: str
) -> None:
    progress = ProgressLog()
    async with Client(f"{http_server}/mcp", mode=mode) as client:
        result = await client.call_tool(
            "detect_image", {"path": str(CAMERA_JPG), "deep_analysis": False}, progress_callback=progress
        )
    assert structured(result)["verdict"] == "Real"
    values = progress.values
    assert len(values) >= 5, "progress must arrive over SSE while the call runs"
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    assert values[-1] == 100


@dataclass(frozen=True)
class ServeCommand:
    url: str
    log: Path


@pytest.fixture
def serve_command(sandbox_server: SandboxServer, tmp_path: Path) -> Iterator[ServeCommand]:
    """`truthscan-mcp serve --transport http --port N`, run as a user would run it."""
    port = free_port()
    log = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "truthscan_mcp", "serve", "--transport", "http", "--port", str(port)]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, env=live_env(sandbox_server), stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            _wait_for_port(port, process, log)
            yield ServeCommand(f"http://127.0.0.1:{port}/mcp", log)
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port}")


@pytest.mark.anyio
async def test_serve_command_speaks_streamable_http_on_the_given_port(serve_command: ServeCommand) -> None:
    progress = ProgressLog()
    async with Client(serve_command.url) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool(
            "detect_image", {"path": str(CAMERA_JPG), "deep_analysis": False}, progress_callback=progress
        )
    assert names == TOOL_NAMES
    assert structured(result)["verdict"] == "Real"
    assert progress.values
    assert progress.values[-1] == 100
    assert f"serving MCP over streamable HTTP at {serve_command.url}" in serve_command.log.read_text()


# --- DNS-rebinding protection and body limits -----------------------------------------------


def test_http_answers_requests_addressed_to_loopback(http_server: str) -> None:
    port = http_server.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert post_initialize(http_server, host=host).status_code == 200, host


def test_http_refuses_a_host_header_that_is_not_loopback(http_server: str) -> None:
    response = post_initialize(http_server, host="attacker.example")
    assert response.status_code == 421


def test_http_refuses_a_foreign_origin(http_server: str) -> None:
    response = post_initialize(http_server, origin="http://attacker.example")
    assert response.status_code == 403


@pytest.mark.parametrize("bind", ["127.0.0.2", "[::1]", "0:0:0:0:0:0:0:1"])
def test_rebinding_protection_covers_every_loopback_bind(sandbox_server: SandboxServer, bind: str) -> None:
    app = build_http_app(make_settings(sandbox_server), bind)
    with serve_app(app, lifespan="on") as base_url:
        port = base_url.rsplit(":", 1)[1]
        named = bind if bind.startswith("[") or ":" not in bind else f"[{bind}]"
        assert post_initialize(base_url, host="attacker.example").status_code == 421
        assert post_initialize(base_url, host=f"{named}:{port}").status_code == 200


def test_http_refuses_a_body_over_the_limit(http_server: str) -> None:
    oversized = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "pad": "' + b"x" * MAX_HTTP_BODY + b'"}'
    response = httpx2.post(f"{http_server}/mcp", content=oversized, headers=MCP_HEADERS, timeout=30)
    assert response.status_code == 413


# --- the bearer token -----------------------------------------------------------------------


def test_http_without_a_token_is_refused_with_401(token_server: str) -> None:
    response = post_initialize(token_server)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "TRUTHSCAN_HTTP_TOKEN" in response.text


def test_http_with_a_wrong_token_is_refused_with_401(token_server: str) -> None:
    for value in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer"):
        response = post_initialize(token_server, authorization=value)
        assert response.status_code == 401, value
        assert TOKEN not in response.text


def test_http_bearer_scheme_is_case_insensitive(token_server: str) -> None:
    assert post_initialize(token_server, authorization=f"bearer {TOKEN}").status_code == 200


@pytest.mark.anyio
async def test_http_with_the_right_token_serves_mcp(token_server: str) -> None:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http,
        Client(streamable_http_client(f"{token_server}/mcp", http_client=http)) as client,
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
        health = structured(await client.call_tool("health", {}))
    assert names == TOOL_NAMES
    assert health["reachable"] is True


# --- Origin on every bind, also in token mode ------------------------------------------------


def test_token_mode_refuses_a_foreign_origin_even_with_the_right_token(token_server: str) -> None:
    response = post_initialize(
        token_server, authorization=f"Bearer {TOKEN}", origin="http://evil.example.com"
    )
    assert response.status_code == 403
    assert "TRUTHSCAN_HTTP_ALLOWED_ORIGINS" in response.text


def test_token_mode_on_loopback_answers_a_loopback_origin(token_server: str) -> None:
    port = token_server.rsplit(":", 1)[1]
    response = post_initialize(
        token_server, authorization=f"Bearer {TOKEN}", origin=f"http://127.0.0.1:{port}"
    )
    assert response.status_code == 200


def test_remote_bind_refuses_a_foreign_origin_even_with_the_right_token(remote_token_server: str) -> None:
    for origin in (
        "http://evil.example.com",
        "https://app.example.evil.com",
        "null",
        "http://127.0.0.1:8000",
    ):
        response = post_initialize(remote_token_server, authorization=f"Bearer {TOKEN}", origin=origin)
        assert response.status_code == 403, origin


def test_remote_bind_answers_an_allowed_origin_with_the_token(remote_token_server: str) -> None:
    response = post_initialize(remote_token_server, authorization=f"Bearer {TOKEN}", origin=ALLOWED_ORIGIN)
    assert response.status_code == 200


def test_remote_bind_still_needs_the_token_from_an_allowed_origin(remote_token_server: str) -> None:
    assert post_initialize(remote_token_server, origin=ALLOWED_ORIGIN).status_code == 401


def test_remote_bind_still_needs_the_token_without_an_origin(remote_token_server: str) -> None:
    assert post_initialize(remote_token_server).status_code == 401
    assert post_initialize(remote_token_server, authorization=f"Bearer {TOKEN}").status_code == 200


def test_allowed_origins_are_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRUTHSCAN_HTTP_ALLOWED_ORIGINS", " https://App.example/ , http://localhost:5173")
    assert Settings().http_allowed_origins == ["https://app.example", "http://localhost:5173"]


# --- refusing a token short enough to guess ------------------------------------------------


@pytest.mark.usefixtures("never_listen")
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_serve_refuses_a_token_shorter_than_32_characters(sandbox_server: SandboxServer, host: str) -> None:
    short = "x" * (MIN_TOKEN_LENGTH - 1)
    with pytest.raises(SystemExit) as refused:
        serve(make_settings(sandbox_server, http_token=short), transport="http", host=host, port=free_port())
    message = str(refused.value.code)
    assert "32" in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in message
    assert short not in message


def test_the_http_app_is_not_built_with_a_short_token(sandbox_server: SandboxServer) -> None:
    with pytest.raises(SystemExit):
        build_http_app(make_settings(sandbox_server, http_token="a"), "127.0.0.1")


# --- refusing to listen beyond loopback without a token -------------------------------------


@pytest.fixture
def never_listen(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the refusal ever regressed, fail here instead of opening a socket beyond loopback."""

    async def refuse(self: uvicorn.Server, sockets: Any = None) -> None:
        raise AssertionError(f"the server tried to listen on {self.config.host}")

    monkeypatch.setattr(uvicorn.Server, "serve", refuse)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`cli.main` configures the root logger for a process; give it back to pytest afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("never_listen")
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "mcp.example"])
def test_serve_refuses_a_non_loopback_bind_without_a_token(sandbox_server: SandboxServer, host: str) -> None:
    with pytest.raises(SystemExit) as refused:
        serve(make_settings(sandbox_server), transport="http", host=host, port=free_port())
    message = str(refused.value.code)
    assert "TRUTHSCAN_HTTP_TOKEN" in message
    assert host in message
    assert "127.0.0.1" in message


@pytest.mark.usefixtures("never_listen", "restore_logging")
def test_serve_command_refuses_a_non_loopback_bind_without_a_token() -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main(["serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())])
    assert "TRUTHSCAN_HTTP_TOKEN" in str(refused.value.code)
