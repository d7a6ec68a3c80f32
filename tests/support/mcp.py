"""Talking MCP to the server under test: reading tool results, spawning it on stdio."""

from __future__ import annotations

import base64
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import jsonschema
from mcp import Client, StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ImageContent, TextContent, Tool

from tests.support.constants import AI_PNG, FAST_POLL, FAST_RETRY
from truthscan_mcp.adapter.server import create_server
from truthscan_mcp.app import AppContext
from truthscan_mcp.sandbox import Sandbox
from truthscan_mcp.settings import Settings


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


def stdio_params(*args: str, env: Mapping[str, str]) -> StdioServerParameters:
    """The server as a desktop app spawns it: `python -m truthscan_mcp` on stdio."""
    return StdioServerParameters(command=sys.executable, args=["-m", "truthscan_mcp", *args], env=dict(env))


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
                "detect_image", {"path": str(AI_PNG), "wait_seconds": 120}, progress_callback=on_progress
            )

    async with anyio.create_task_group() as tg:
        tg.start_soon(detect)
        with anyio.fail_after(15):
            await polling.wait()
        call.cancel()
    assert call.cancelled_caught


def make_server(settings: Settings, *, sandbox: Sandbox | None = None) -> MCPServer[AppContext]:
    """`create_server` with millisecond retries and polls: for tests that are not about waiting
    (a retried fault or a poll then costs no real seconds; the server does the same steps)."""
    return create_server(settings, sandbox=sandbox, retry=FAST_RETRY, schedule=FAST_POLL)
