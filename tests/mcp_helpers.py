"""Shared pieces of the MCP-level tests: the contract as data, settings, and small servers.

The contract (`../shared/product.md`) is written down here once, as plain sets and tuples, so
that the in-process, stdio and HTTP tests all hold the server to the same names.
"""

from __future__ import annotations

import base64
import os
import socket
import sys
import threading
import time
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import jsonschema
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, ImageContent, TextContent, Tool
from starlette.types import ASGIApp

import truthscan_mcp.samples
from truthscan_mcp.sandbox import Sandbox, SandboxConfig
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from tests.conftest import SandboxServer

SAMPLES = Path(truthscan_mcp.samples.__file__).parent
AI_SAMPLE = SAMPLES / "ai-generated.png"
CAMERA_SAMPLE = SAMPLES / "camera-photo.jpg"
TEST_KEY = "test-key"

# --- the contract ---------------------------------------------------------------------------

#: the contract's four tools, the batch tool `detect_images` (issue 6) and the evidence view's
#: app-only `get_report_images` (issue 15; visibility ["app"]: hosts hide it from the model)
TOOL_NAMES = frozenset(
    {"detect_image", "detect_images", "get_result", "check_credits", "health", "get_report_images"}
)
DETECT_ARGUMENTS = frozenset(
    {"path", "url", "data", "deep_analysis", "wait_seconds", "include_heatmap", "preview", "force"}
)
GET_RESULT_ARGUMENTS = frozenset({"id", "wait_seconds", "include_heatmap"})
REPORT_FIELDS = frozenset(
    {
        "id",
        "status",
        "complete",
        "verdict",
        "ai_score",
        "confidence",
        "confidence_band",
        "detection_step",
        "signals",
        "analysis_status",
        "analysis",
        "heatmap_status",
        "heatmap_url",
        "preview_url",
        "source",
        "cached",
        "simulated",
        "elapsed_seconds",
        "warnings",
        "next_step",
    }
)
CREDITS_FIELDS = frozenset({"base_credits", "boost_credits", "credits"})
HEALTH_FIELDS = frozenset(
    {"status", "timestamp", "reachable", "latency_ms", "api_key_configured", "sandbox", "server_version"}
)
PROTOCOL_MODES = ("legacy", "auto")

# --- configuration --------------------------------------------------------------------------


def quick_sandbox() -> Sandbox:
    """An in-process simulator that settles a detection by the client's first poll."""
    return Sandbox(SandboxConfig(processing_seconds=0.1, analysis_seconds=0.05, heatmap_seconds=0.05))


def isolated_settings(**values: Any) -> Settings:
    """Settings from these values and the documented defaults only.

    Module-scoped fixtures build their servers before any per-test environment scrubbing, so
    the developer's own TRUTHSCAN_* variables must not be able to reach them this way either.
    """
    defaults = {
        name: field.get_default(call_default_factory=True) for name, field in Settings.model_fields.items()
    }
    return Settings(**{**defaults, **values})


def sandbox_mode_settings(*dirs: Path, **overrides: Any) -> Settings:
    """`--sandbox` mode: no key, no socket, never the user's cache."""
    values: dict[str, Any] = {
        "sandbox": True,
        "cache_path": "off",
        "allowed_dirs": [SAMPLES, *dirs],
        "log_level": "WARNING",
    }
    values.update(overrides)
    return isolated_settings(**values)


def live_settings(server: SandboxServer, *dirs: Path, **overrides: Any) -> Settings:
    """A server that talks real HTTP to the loopback sandbox as if it were TruthScan."""
    values: dict[str, Any] = {
        "api_url": server.api_url,
        "storage_url": server.storage_url,
        "api_key": TEST_KEY,
        "cache_path": "off",
        "allowed_dirs": [SAMPLES, *dirs],
        "log_level": "WARNING",
    }
    values.update(overrides)
    return isolated_settings(**values)


def scrub_truthscan_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own TRUTHSCAN_* variables must not leak into `Settings()` in tests."""
    for name in list(os.environ):
        if name.startswith("TRUTHSCAN_"):
            monkeypatch.delenv(name)


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a server subprocess: no inherited TRUTHSCAN_*, never the user's cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUTHSCAN_")}
    env["TRUTHSCAN_CACHE_PATH"] = "off"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def stdio_params(*args: str, env: Mapping[str, str]) -> StdioServerParameters:
    """The server as a desktop app spawns it: `python -m truthscan_mcp` on stdio."""
    return StdioServerParameters(command=sys.executable, args=["-m", "truthscan_mcp", *args], env=dict(env))


def live_env(server: SandboxServer, *dirs: Path, **extra: str) -> dict[str, str]:
    allowed = os.pathsep.join(str(d) for d in (SAMPLES, *dirs))
    return child_env(
        TRUTHSCAN_API_URL=server.api_url,
        TRUTHSCAN_STORAGE_URL=server.storage_url,
        TRUTHSCAN_API_KEY=TEST_KEY,
        TRUTHSCAN_ALLOWED_DIRS=allowed,
        **extra,
    )


# --- reading results ------------------------------------------------------------------------


@dataclass
class ProgressLog:
    """A `progress_callback` that remembers every notification it was sent."""

    events: list[tuple[float, float | None, str | None]] = field(
        default_factory=list[tuple[float, float | None, str | None]]
    )

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))

    @property
    def values(self) -> list[float]:
        return [progress for progress, _, _ in self.events]

    @property
    def messages(self) -> str:
        return "\n".join(message or "" for _, _, message in self.events)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def images_of(result: CallToolResult) -> list[bytes]:
    return [base64.b64decode(block.data) for block in result.content if isinstance(block, ImageContent)]


def structured(result: CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None, text_of(result)
    return result.structured_content


def assert_valid_output(result: CallToolResult, tool: Tool) -> None:
    """`structuredContent` must satisfy the `outputSchema` the tool advertised."""
    assert tool.output_schema is not None
    validator: Any = jsonschema.Draft202012Validator(tool.output_schema)
    validator.validate(structured(result))


def assert_error(result: CallToolResult, *fragments: str) -> str:
    """An error is a tool result (not a protocol error) whose text says what to do."""
    text = text_of(result)
    assert result.is_error, text
    for fragment in fragments:
        assert fragment.lower() in text.lower(), f"{fragment!r} not in {text!r}"
    return text


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


# --- small real servers on loopback ---------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_app(app: ASGIApp, *, lifespan: str = "off") -> Generator[str]:
    """Run an ASGI app under uvicorn on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan=lifespan, log_config=None, log_level="warning", access_log=False)  # pyright: ignore[reportArgumentType]
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=15)
        assert server.started, "the app did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def cancel_detection_while_polling(client: Client, simulator: Sandbox) -> None:
    """Start detect_image on a document that stays pending, and cancel the call from the client
    side once the server is in its poll loop: the cancellation tests then check what is left."""
    simulator.config.processing_seconds = 60  # the document stays pending: the server must poll
    call = anyio.CancelScope()
    polling = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if simulator.stats.query_calls >= 2:
            polling.set()

    async def detect() -> None:
        with call:
            await client.call_tool(
                "detect_image", {"path": str(AI_SAMPLE), "wait_seconds": 120}, progress_callback=on_progress
            )

    async with anyio.create_task_group() as tg:
        tg.start_soon(detect)
        with anyio.fail_after(15):
            await polling.wait()
        call.cancel()
    assert call.cancelled_caught
