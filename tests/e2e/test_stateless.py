"""`serve --transport http --stateless` and `GET /healthz`: replicas any request may reach.

Real `truthscan-mcp serve` processes on loopback ports, against the session's sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client

from tests.support import PROTOCOL_MODES, TOOL_NAMES, live_env, structured
from tests.support.replicas import Replica, replica, replicas
from tests.support.servers import SandboxServer

TOKEN = "stateless-token-for-tests-0123456789-abcdef"
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
VERSION = "2025-11-25"


def _rpc(method: str, request_id: int, params: dict[str, object] | None = None) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}


def _sse_json(response: httpx2.Response) -> dict[str, object]:
    """The JSON-RPC answer in an SSE response (the transport answers POSTs as event streams)."""
    for line in response.text.splitlines():
        if line.startswith("data:") and line[5:].strip():
            return json.loads(line[5:])
    raise AssertionError(f"no data event in {response.text!r}")


@pytest.fixture(scope="module")
def pair(sandbox_server: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    env = live_env(sandbox_server, TRUTHSCAN_CACHE_PATH="off")
    with replicas(2, env, tmp_path_factory.mktemp("replicas")) as started:
        yield started


def test_a_request_after_initialize_is_answered_by_another_replica(pair: list[Replica]) -> None:
    first, second = pair
    initialize = _rpc(
        "initialize",
        1,
        {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "lb-test", "version": "1"}},
    )
    started = httpx2.post(first.url, json=initialize, headers=MCP_HEADERS, timeout=30)
    assert started.status_code == 200
    assert "mcp-session-id" not in started.headers, "a stateless replica hands out no session"
    headers = {**MCP_HEADERS, "mcp-protocol-version": VERSION}
    listed = httpx2.post(second.url, json=_rpc("tools/list", 2), headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    result = _sse_json(listed)["result"]
    assert isinstance(result, dict)
    assert {tool["name"] for tool in result["tools"]} == TOOL_NAMES  # pyright: ignore[reportUnknownVariableType]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_stateless_replicas_serve_both_protocol_eras(pair: list[Replica], mode: str) -> None:
    for server in pair:
        async with Client(server.url, mode=mode) as client:
            health = structured(await client.call_tool("health", {}))
        assert health["reachable"] is True


def test_stateless_without_a_shared_store_says_how_to_share_one(pair: list[Replica]) -> None:
    assert "TRUTHSCAN_CACHE_URL" in pair[0].stderr()


def test_healthz_answers_ok_without_a_token_and_nothing_else(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    env = live_env(sandbox_server, TRUTHSCAN_CACHE_PATH="off", TRUTHSCAN_HTTP_TOKEN=TOKEN)
    with replica(env, tmp_path) as server:
        health = httpx2.get(f"{server.base_url}/healthz", timeout=30)
        refused = httpx2.post(server.url, json=_rpc("tools/list", 1), headers=MCP_HEADERS, timeout=30)
    assert health.status_code == 200
    assert health.text == "ok"
    assert "server" not in health.headers
    assert refused.status_code == 401, "only the probe goes without the token"


def test_healthz_answers_a_head_probe(pair: list[Replica]) -> None:
    response = httpx2.head(f"{pair[0].base_url}/healthz", timeout=30)
    assert response.status_code == 200
    assert response.content == b""
