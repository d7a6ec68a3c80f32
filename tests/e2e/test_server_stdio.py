"""The server as desktop apps run it: `python -m truthscan_mcp` spawned, speaking MCP on stdio.

One server process per protocol mode serves every test of this module (as one desktop-app
session would), pointed at the loopback sandbox; a raw JSON-RPC session checks that stdout
carries nothing but protocol messages; and the MCP Inspector CLI runs when it is installed.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from anyio.abc import ByteReceiveStream, Process
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    SAMPLES,
    TOOL_NAMES,
    ProgressLog,
    assert_error,
    assert_valid_output,
    cancel_detection_while_polling,
    child_env,
    live_env,
    make_settings,
    stdio_params,
    structured,
    text_of,
)
from truthscan_mcp.adapter.server import create_server

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_user_configuration")]


@pytest.fixture(scope="module")
async def stdio(mode: str, sandbox_server: SandboxServer, anyio_backend: str) -> AsyncIterator[Client]:
    """One spawned server per mode, pointed at the loopback sandbox, shared by the module."""
    async with Client(stdio_params(env=live_env(sandbox_server)), mode=mode) as client:
        yield client


@pytest.fixture
def server(stdio: Client, sandbox: SandboxServer) -> Client:
    """The spawned server, with the sandbox behind it as good as new for this test."""
    return stdio


async def test_stdio_listing_is_the_same_as_in_process(server: Client, mode: str) -> None:
    listed = (await server.list_tools()).tools
    assert {tool.name for tool in listed} == TOOL_NAMES
    async with Client(create_server(make_settings()), mode=mode) as reference:
        expected = (await reference.list_tools()).tools
        assert server.instructions == reference.instructions
    assert [tool.model_dump() for tool in listed] == [tool.model_dump() for tool in expected]
    assert server.instructions


async def test_stdio_detects_the_ai_sample_with_progress_to_100(server: Client) -> None:
    progress = ProgressLog()
    result = await server.call_tool("detect_image", {"path": str(AI_PNG)}, progress_callback=progress)
    report = structured(result)
    tools = {tool.name: tool for tool in (await server.list_tools()).tools}
    assert_valid_output(result, tools["detect_image"])
    assert (report["verdict"], report["complete"], report["simulated"]) == ("AI Generated", True, True)
    assert report["analysis"]["reasoning"][:80] in text_of(result)
    values = progress.values
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    assert len(values) >= 6
    assert values[-1] == 100


async def test_stdio_detects_the_camera_photo_real(server: Client) -> None:
    result = await server.call_tool("detect_image", {"path": str(CAMERA_JPG), "deep_analysis": False})
    assert structured(result)["verdict"] == "Real"
    assert "SIMULATED" in text_of(result)


async def test_stdio_hand_off_completes_through_get_result_for_one_credit(
    server: Client, sandbox: SandboxServer
) -> None:
    before = structured(await server.call_tool("check_credits", {}))["credits"]
    handed_off = structured(await server.call_tool("detect_image", {"path": str(AI_PNG), "wait_seconds": 0}))
    assert handed_off["complete"] is False
    assert handed_off["id"] in handed_off["next_step"]
    assert "get_result" in handed_off["next_step"]
    report = structured(await server.call_tool("get_result", {"id": handed_off["id"], "wait_seconds": 30}))
    assert (report["complete"], report["verdict"]) == (True, "AI Generated")
    after = structured(await server.call_tool("check_credits", {}))["credits"]
    assert before - after == 1
    assert sandbox.sandbox.stats.accepted_detects == 1


async def test_stdio_cancellation_stops_polling_and_the_server_keeps_serving(
    server: Client, sandbox: SandboxServer
) -> None:
    simulator = sandbox.sandbox
    await cancel_detection_while_polling(server, simulator)

    await anyio.sleep(0.5)  # notifications/cancelled crosses the pipe
    stopped_at = simulator.stats.query_calls
    await anyio.sleep(1.0)  # un-cancelled, the poll schedule would have queried 2-4 times more by now
    assert simulator.stats.query_calls == stopped_at
    assert simulator.stats.in_flight == 0
    health = await server.call_tool("health", {})
    assert structured(health)["reachable"] is True


async def test_stdio_errors_are_tool_results_and_the_server_keeps_serving(
    server: Client, sandbox: SandboxServer
) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("detect_image", {}, "exactly one of"),
        ("detect_image", {"path": str(SAMPLES / "missing.png")}, "no file at"),
        ("detect_image", {"path": "/etc/hostname"}, "outside the directories"),
        ("detect_image", {"data": "@@@"}, "not valid base64"),
        ("detect_image", {"path": str(AI_PNG), "wait_seconds": 601}, "wait_seconds"),
        ("get_result", {"id": "not-an-id"}, "not a TruthScan document id"),
    ]
    for tool, arguments, fragment in cases:
        assert_error(await server.call_tool(tool, arguments), fragment)
        assert structured(await server.call_tool("health", {}))["reachable"] is True
    assert sandbox.sandbox.stats.requests["presign"] == 0


# --- stdout carries JSON-RPC and nothing else -----------------------------------------------


@dataclass
class RawSession:
    """Everything one raw stdio session produced."""

    requests: dict[int, dict[str, Any]]
    stdout_lines: list[bytes]
    stderr: str
    returncode: int | None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout_lines]

    def response(self, request_id: int) -> dict[str, Any]:
        [answer] = [m for m in self.messages if m.get("id") == request_id and "method" not in m]
        return answer


async def _drain(stream: ByteReceiveStream, into: bytearray) -> None:
    async for chunk in stream:
        into.extend(chunk)


async def _read_until_response(
    stdout: BufferedByteReceiveStream, request_id: int, lines: list[bytes]
) -> None:
    while True:
        line = await stdout.receive_until(b"\n", 16 * 1024 * 1024)
        lines.append(line)
        message = json.loads(line)
        if message.get("id") == request_id and "method" not in message:
            return


async def _speak(process: Process, requests: list[dict[str, Any]], lines: list[bytes]) -> None:
    assert process.stdin is not None
    assert process.stdout is not None
    stdout = BufferedByteReceiveStream(process.stdout)
    for message in requests:
        await process.stdin.send(json.dumps(message).encode() + b"\n")
        if "id" in message:
            await _read_until_response(stdout, message["id"], lines)
    await process.stdin.aclose()  # what a desktop app does on quit
    rest = bytearray()
    await _drain(stdout, rest)
    lines.extend(line for line in bytes(rest).split(b"\n") if line)


def _call(request_id: int, name: str, arguments: dict[str, Any], **meta: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


@pytest.fixture(scope="module")
async def raw_session(anyio_backend: str) -> RawSession:
    """A whole `--sandbox` session spoken by hand, with the server logging at DEBUG."""
    requests: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-smoke-test", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        _call(3, "health", {}),
        _call(4, "detect_image", {"path": str(AI_PNG), "deep_analysis": False}, progressToken="p4"),
        _call(5, "detect_image", {}),
        _call(6, "get_result", {"id": "nope"}),
        _call(7, "detect_image", {"path": str(AI_PNG), "wait_seconds": 9999}),
        {"jsonrpc": "2.0", "id": 8, "method": "no/such/method"},
        _call(9, "check_credits", {}),
    ]
    env = child_env(TRUTHSCAN_ALLOWED_DIRS=str(SAMPLES), TRUTHSCAN_LOG_LEVEL="DEBUG")
    lines: list[bytes] = []
    stderr = bytearray()
    command = [sys.executable, "-m", "truthscan_mcp", "--sandbox"]
    async with await anyio.open_process(command, env=env) as process:
        assert process.stderr is not None
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_drain, process.stderr, stderr)
                await _speak(process, requests, lines)
            await process.wait()
    by_id = {r["id"]: r for r in requests if "id" in r}
    return RawSession(by_id, lines, stderr.decode(errors="replace"), process.returncode)


def test_every_line_on_stdout_is_a_json_rpc_message(raw_session: RawSession) -> None:
    assert len(raw_session.stdout_lines) > len(raw_session.requests)
    for line in raw_session.stdout_lines:
        message: Any = json.loads(line)
        assert isinstance(message, dict), line
        assert message["jsonrpc"] == "2.0", line
        is_response = "id" in message and ("result" in message) != ("error" in message)
        is_notification = "method" in message and "id" not in message
        assert is_response or is_notification, line


def test_every_request_gets_exactly_one_response(raw_session: RawSession) -> None:
    responses = [m["id"] for m in raw_session.messages if "id" in m and "method" not in m]
    assert sorted(responses) == sorted(raw_session.requests)


def test_tool_failures_are_results_and_an_unknown_method_is_a_protocol_error(raw_session: RawSession) -> None:
    for request_id in (5, 6, 7):
        assert raw_session.response(request_id)["result"]["isError"] is True
    assert raw_session.response(8)["error"]["code"] == -32601


def test_sandbox_flag_serves_the_simulator_without_a_key(raw_session: RawSession) -> None:
    health = raw_session.response(3)["result"]["structuredContent"]
    assert (health["reachable"], health["api_key_configured"], health["sandbox"]) == (True, False, True)
    assert raw_session.response(9)["result"]["structuredContent"]["credits"] > 0
    report = raw_session.response(4)["result"]
    assert report["structuredContent"]["simulated"] is True
    assert "SIMULATED" in report["content"][0]["text"]


def test_progress_notifications_travel_on_stdout_with_the_token(raw_session: RawSession) -> None:
    progress = [
        m["params"]
        for m in raw_session.messages
        if m.get("method") == "notifications/progress" and m["params"]["progressToken"] == "p4"
    ]
    values = [p["progress"] for p in progress]
    assert len(values) >= 6
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    assert values[-1] == 100
    assert raw_session.response(4)["result"]["structuredContent"]["verdict"] == "AI Generated"


def test_logs_go_to_stderr(raw_session: RawSession) -> None:
    assert "truthscan-mcp" in raw_session.stderr
    assert "ready" in raw_session.stderr
    assert "DEBUG" in raw_session.stderr
    assert "submitted document" in raw_session.stderr


def test_the_server_exits_cleanly_when_stdin_closes(raw_session: RawSession) -> None:
    assert raw_session.returncode == 0


# --- the MCP Inspector CLI ------------------------------------------------------------------

INSPECTOR = "@modelcontextprotocol/inspector@0.15"


def _inspector_command(*args: str) -> list[str]:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed")
    # --offline: a test run never downloads; the package must already be in the npm cache.
    prefix = [npx, "--offline", "-y", INSPECTOR, "--cli", "-e", "TRUTHSCAN_CACHE_PATH=off"]
    return [*prefix, "truthscan-mcp", "--sandbox", *args]


@pytest.fixture(scope="module")
def inspector() -> dict[str, dict[str, Any]]:
    """`tools/list` and a `tools/call` of health through the Inspector CLI, run side by side."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**child_env(), "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    commands = {
        "list": _inspector_command("--method", "tools/list"),
        "health": _inspector_command("--method", "tools/call", "--tool-name", "health"),
    }
    running = {
        name: subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, command in commands.items()
    }
    outputs = {name: process.communicate(timeout=120) for name, process in running.items()}
    results: dict[str, dict[str, Any]] = {}
    for name, (stdout, stderr) in outputs.items():
        if running[name].returncode != 0 and ("ENOTCACHED" in stderr or "only-if-cached" in stderr):
            pytest.skip(f"{INSPECTOR} is not in the npm cache (run it once with npx to install it)")
        assert running[name].returncode == 0, stderr
        results[name] = json.loads(stdout)
    return results


def test_inspector_cli_lists_the_tools(inspector: dict[str, dict[str, Any]]) -> None:
    assert {tool["name"] for tool in inspector["list"]["tools"]} == TOOL_NAMES


def test_inspector_cli_calls_health(inspector: dict[str, dict[str, Any]]) -> None:
    result = inspector["health"]
    assert result["isError"] is False
    assert result["structuredContent"]["reachable"] is True
    assert result["structuredContent"]["sandbox"] is True
