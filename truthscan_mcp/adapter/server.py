"""The MCP server: the tools and resources of `tools` and `resources`, registered on one `MCPServer`.

The only place (with `tools`, `resources` and `transports`) that imports the MCP SDK; what a
tool does lives in `detection/`, and the words the model reads in `texts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from truthscan_mcp import __version__
from truthscan_mcp.adapter import resources, texts, tools
from truthscan_mcp.api.sending import RetryPolicy
from truthscan_mcp.app import AppContext
from truthscan_mcp.detection.schedule import Planner
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from truthscan_mcp.api.client import RetryPolicy
    from truthscan_mcp.sandbox import Sandbox


def _annotations(title: str, *, read_only: bool) -> ToolAnnotations:
    """Honest hints: nothing here destroys anything; repeating a call is safe (the content cache
    makes a repeated detection free); every tool talks to TruthScan, an open world."""
    return ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=True,
    )


def create_server(
    settings: Settings | None = None,
    *,
    sandbox: Sandbox | None = None,
    retry: RetryPolicy | None = None,
    schedule: Planner | None = None,
) -> MCPServer[AppContext]:
    """The MCP server; `sandbox` lets tests share one simulator with the in-process mode, and
    `retry` / `schedule` (see `open_app`) let tests retry and poll in milliseconds and benchmarks
    compare schedules."""
    settings = settings or Settings()
    lifespans = resources.Lifespans(settings, sandbox=sandbox, retry=retry, schedule=schedule)
    mcp: MCPServer[AppContext] = MCPServer(
        name="truthscan-mcp",
        title="TruthScan AI image detection",
        instructions=texts.INSTRUCTIONS,
        version=__version__,
        website_url="https://truthscan.com",
        lifespan=lifespans,
        log_level=settings.log_level,
    )
    mcp.resource(
        "truthscan://history",
        name="history",
        title="Recent detections",
        description=texts.HISTORY_RESOURCE_DESCRIPTION,
        mime_type="application/json",
    )(lifespans.history)
    mcp.resource(
        "truthscan://results/{id}",
        name="result",
        title="A detection result",
        description=texts.RESULT_RESOURCE_DESCRIPTION,
        mime_type="application/json",
    )(resources.result)
    for fn, title, description, read_only in (
        (tools.detect_image, "Detect an AI-generated image", texts.DETECT_DESCRIPTION, False),
        (tools.detect_images, "Detect AI-generated images in bulk", texts.BATCH_DESCRIPTION, False),
        (tools.get_result, "Get a detection result", texts.GET_RESULT_DESCRIPTION, True),
        (tools.check_credits, "Check TruthScan credits", texts.CREDITS_DESCRIPTION, True),
        (tools.health, "TruthScan health", texts.HEALTH_DESCRIPTION, True),
    ):
        mcp.add_tool(
            fn,
            name=fn.__name__,
            title=title,
            description=description,
            annotations=_annotations(title, read_only=read_only),
        )
    return mcp
