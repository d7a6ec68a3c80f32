"""The upload page where each transport serves it, with real processes and real HTTP.

Under stdio (`python -m truthscan_mcp`, as a desktop app spawns it) the first `request_image`
starts a listener on 127.0.0.1 in the server process; under the HTTP transport the page is a
route of the same server, `/upload/<id>`, reachable by a browser that has neither the bearer
token nor an allowed Origin. Both protocol eras; loopback only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    PROTOCOL_MODES,
    live_env,
    make_settings,
    serve_app,
    stdio_params,
    structured,
)
from truthscan_mcp.adapter.transports import build_http_app

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_user_configuration")]
TOKEN = "upload-token-for-tests-0123456789-abcdefghij"


@pytest.fixture(scope="module")
def http_server(sandbox_server: SandboxServer) -> Iterator[str]:
    with serve_app(build_http_app(make_settings(sandbox_server), "127.0.0.1"), lifespan="on") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def remote_server(sandbox_server: SandboxServer) -> Iterator[str]:
    """Configured as for a non-loopback bind (token required), served on 127.0.0.1 all the same."""
    settings = make_settings(sandbox_server, http_token=TOKEN)
    with serve_app(build_http_app(settings, "0.0.0.0"), lifespan="on") as base_url:
        yield base_url


def post(url: str, content: bytes, **headers: str) -> httpx2.Response:
    return httpx2.post(url, content=content, headers={"X-Upload-Name": "scan.jpg", **headers}, timeout=10)


async def hand_over_and_detect(client: Client, image: bytes, **headers: str) -> tuple[str, dict[str, Any]]:
    upload = structured(await client.call_tool("request_image", {}))
    answer = post(upload["upload_url"], image, **headers)
    assert answer.status_code == 200, answer.text
    result = await client.call_tool("detect_image", {"upload": upload["upload_id"], "wait_seconds": 60})
    return upload["upload_url"], structured(result)


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_under_stdio_the_first_request_starts_a_loopback_listener(
    sandbox: SandboxServer, mode: str
) -> None:
    async with Client(stdio_params(env=live_env(sandbox)), mode=mode) as client:
        url, report = await hand_over_and_detect(client, CAMERA_JPG.read_bytes())
        second = structured(await client.call_tool("request_image", {}))
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/upload/[A-Za-z0-9_-]{22,}", url)
    assert second["upload_url"].split("/upload/")[0] == url.split("/upload/")[0]  # one listener
    assert report["verdict"] == "Real"
    assert report["source"]["kind"] == "upload"
    assert report["source"]["name"] == "scan.jpg"


async def test_the_stdio_listener_stops_with_the_server(sandbox: SandboxServer) -> None:
    async with Client(stdio_params(env=live_env(sandbox))) as client:
        upload = structured(await client.call_tool("request_image", {}))
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(upload["upload_url"], timeout=5)


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_under_http_the_page_is_a_route_of_the_same_server(http_server: str, mode: str) -> None:
    async with Client(f"{http_server}/mcp", mode=mode) as client:
        url, report = await hand_over_and_detect(client, AI_PNG.read_bytes(), Origin=http_server)
    assert url.startswith(f"{http_server}/upload/")
    assert report["verdict"] == "AI Generated"
    assert report["source"]["kind"] == "upload"


async def test_under_http_a_foreign_host_or_origin_is_refused(http_server: str) -> None:
    async with Client(f"{http_server}/mcp") as client:
        upload = structured(await client.call_tool("request_image", {}))
    port = http_server.rsplit(":", 1)[1]
    rebound = post(upload["upload_url"], AI_PNG.read_bytes(), Host=f"rebound.example:{port}")
    foreign = post(upload["upload_url"], AI_PNG.read_bytes(), Origin="https://attacker.example")
    assert rebound.status_code == 421
    assert foreign.status_code == 403
    assert post(upload["upload_url"], AI_PNG.read_bytes()).status_code == 200


async def test_on_a_token_guarded_bind_the_browser_needs_only_the_link(remote_server: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=auth, timeout=30) as http,
        Client(streamable_http_client(f"{remote_server}/mcp", http_client=http)) as client,
    ):
        upload = structured(await client.call_tool("request_image", {}))
        page = httpx2.get(upload["upload_url"], timeout=10)  # no token: a person's browser
        answer = post(upload["upload_url"], CAMERA_JPG.read_bytes())
    assert page.status_code == 200
    assert "Drop the image here" in page.text
    assert answer.status_code == 200
    # on a public bind the page is held to the host name its link was given out under
    other = httpx2.get(upload["upload_url"], headers={"Host": "elsewhere.example"}, timeout=10)
    assert other.status_code == 421
    assert httpx2.post(f"{remote_server}/mcp", content=b"{}", timeout=10).status_code == 401
