"""The MCP server: the tools and resources of `tools` and `resources`, registered on one `MCPServer`.

The only place (with `tools`, `resources` and `transports`) that imports the MCP SDK; what a
tool does lives in `detection/`, and the words the model reads in `texts`.
"""

from __future__ import annotations

import base64
import functools
from importlib import resources as package_files
from typing import TYPE_CHECKING

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.request_state import RequestStateSecurity
from mcp.types import Icon, SubscribeRequestParams, UnsubscribeRequestParams

from truthscan_mcp import __version__
from truthscan_mcp.adapter import handover, prompts, resources, texts, tools
from truthscan_mcp.adapter.arguments import ArgumentCheck
from truthscan_mcp.adapter.declare import spec_of
from truthscan_mcp.adapter.evidence_view import UI_META, ImageStore, create_apps
from truthscan_mcp.adapter.upload_desk import UploadDesk
from truthscan_mcp.api.sending import Deadlines, RetryPolicy
from truthscan_mcp.app import AppContext
from truthscan_mcp.detection.schedule import Planner
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from truthscan_mcp.api.client import RetryPolicy
    from truthscan_mcp.sandbox import Sandbox


#: the tools after which the history (`resources.HISTORY_URI`) may have changed
_RECORDING_TOOLS = frozenset({"detect_image", "detect_images", "get_result"})


def _icons() -> list[Icon]:
    """The project's icon as a `data:` URI, so no client has to fetch anything to show it: a
    64 px copy of the repository's icon.png (1.3 KB), read once."""
    return list(_icon_list())


@functools.cache
def _icon_list() -> tuple[Icon, ...]:
    png = package_files.files("truthscan_mcp.adapter").joinpath("icon-64.png").read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    return (Icon(src=uri, mime_type="image/png", sizes=["64x64"]),)


# The order tools are listed in; each is declared (title, texts, flags) where it is defined. The
# tools whose results the evidence view draws carry its `_meta` (UI_META); hosts without MCP Apps
# ignore `_meta` and read the same text and structured content as ever.
_REGISTERED = (
    tools.detect_image,
    tools.detect_images,
    tools.get_result,
    tools.check_provenance,
    tools.check_credits,
    tools.export_report,
    tools.health,
    handover.request_image,
)


@functools.cache
def _declared_tools() -> tuple[Tool, ...]:
    """The tools as the SDK declares them (argument models, input and output schemas).

    They depend on the code alone, so they are built once per process and shared by every server
    it creates: building them is most of the cost of a server (~0.13 s of CPU), which a process
    serving one client pays once, but an embedder or a test suite creating hundreds would pay
    each time.
    """
    return tuple(
        Tool.from_function(
            spec.function,
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=spec.annotations(),
            icons=_icons(),
            meta=UI_META if spec.view else None,
        )
        for spec in map(spec_of, _REGISTERED)
    )


def create_server(
    settings: Settings | None = None,
    *,
    sandbox: Sandbox | None = None,
    retry: RetryPolicy | None = None,
    schedule: Planner | None = None,
    deadlines: Deadlines | None = None,
    uploads: UploadDesk | None = None,
    oauth: tuple[TokenVerifier, AuthSettings] | None = None,
    request_state_key: bytes | None = None,
) -> MCPServer[AppContext]:
    """The MCP server; `sandbox` lets tests share one simulator with the in-process mode, and
    `retry` / `schedule` / `deadlines` (see `open_app`) let tests retry, poll and time out in
    milliseconds and benchmarks compare schedules. `uploads` is where images handed over
    through `request_image` go (the HTTP transport passes the desk it mounts the page of).
    `oauth` makes the HTTP app an OAuth resource server (see `oauth`); `request_state_key`
    seals the 2026 era's `requestState` with a key every replica shares (else one of this
    process's own)."""
    settings = settings or Settings()
    uploads = uploads or UploadDesk()
    # The evidence view (MCP Apps): thumbnails by document id, fed by the detections of clients
    # that render it and read by its app-only image tool; one store per server.
    images = ImageStore()
    lifespans = resources.Lifespans(
        settings,
        sandbox=sandbox,
        retry=retry,
        schedule=schedule,
        deadlines=deadlines,
        images=images,
        uploads=uploads,
    )
    history = resources.HistoryNotifier()
    icons = _icons()

    async def after_call(tool: str) -> None:
        if tool in _RECORDING_TOOLS and (settings.cache_path is not None or settings.cache_url is not None):
            await history.changed()

    arguments = ArgumentCheck({fn.__name__: fn for fn in _REGISTERED}, after_call=after_call)
    mcp: MCPServer[AppContext] = MCPServer(
        name="truthscan-mcp",
        title="TruthScan AI image detection",
        instructions=texts.INSTRUCTIONS,
        version=__version__,
        website_url="https://truthscan.com",
        lifespan=lifespans,
        log_level=settings.log_level,
        icons=icons,
        subscriptions=history.bus,
        extensions=[arguments, create_apps(images, icons=icons, uploads=uploads.store)],
        tools=list(_declared_tools()),
        token_verifier=oauth[0] if oauth else None,
        request_state_security=RequestStateSecurity(keys=[request_state_key]) if request_state_key else None,
        auth=oauth[1] if oauth else None,
    )
    _add_resources(mcp, lifespans, history)
    _add_prompts(mcp)
    return mcp


def _add_resources(
    mcp: MCPServer[AppContext], lifespans: resources.Lifespans, history: resources.HistoryNotifier
) -> None:
    # MCPServer serves no `resources/subscribe` (the 2025 era's way to ask for updates); the
    # SDK points there for re-providing a method the 2026 revision removed.
    lowlevel = mcp._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, history.subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, history.unsubscribe)
    mcp.resource(
        resources.HISTORY_URI,
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


def _add_prompts(mcp: MCPServer[AppContext]) -> None:
    mcp.prompt(
        "check_image", title="Check an image with TruthScan", description=prompts.CHECK_IMAGE_DESCRIPTION
    )(prompts.check_image)
    mcp.prompt("check_page", title="Check a web page's images", description=prompts.CHECK_PAGE_DESCRIPTION)(
        prompts.check_page
    )
