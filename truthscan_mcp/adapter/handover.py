"""`request_image`: asking the person for an image the model cannot pass.

An image attached or pasted in a chat never reaches an MCP server, and most people in a desktop
app cannot name a file path. So the model asks: this tool opens a single-use upload and answers
with its link (the upload page, served by `upload_desk`) and, for hosts that render MCP Apps,
declares the evidence view, which shows a drop zone right in the conversation. Either way the
bytes go from the person to this server, never through the model's context.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import Field

from truthscan_mcp.adapter import texts
from truthscan_mcp.adapter.declare import declare
from truthscan_mcp.app import AppContext
from truthscan_mcp.media.uploads import MAX_NOTE
from truthscan_mcp.models import UploadRequest
from truthscan_mcp.sanitize import clean_line

NEXT_STEP = (
    "Give the person the link (or point them to the drop zone shown in the conversation). When "
    "they say the image is there, call detect_image with upload={upload_id} (or check_provenance "
    "with the same `upload` for the free metadata check first)."
)


def render_upload_request(request: UploadRequest) -> str:
    lines = [
        "An upload is open for the person's image.",
        f"Ask them to open {request.upload_url} and drop or pick the image there (apps that show "
        "the TruthScan view also show a drop zone in the conversation).",
        f"The link works once, until {request.expires_at.strftime('%Y-%m-%d %H:%M')} UTC; the image "
        "stays on this server and is dropped after the check.",
        f"upload_id: {request.upload_id}",
        f"Next step: {request.next_step}",
    ]
    return "\n".join(lines)


@declare(
    title="Ask the person for an image",
    description=texts.REQUEST_IMAGE_DESCRIPTION,
    read_only=True,
    open_world=False,
    view=True,
)
async def request_image(
    ctx: Context[AppContext],
    note: Annotated[
        str | None,
        Field(
            description="A short line shown to the person on the upload page, e.g. which image you "
            "need (at most 200 characters).",
            max_length=MAX_NOTE,
        ),
    ] = None,
) -> Annotated[CallToolResult, UploadRequest]:
    app = ctx.request_context.lifespan_context
    if app.uploads is None or app.upload_pages is None:
        raise ToolError("This server takes no uploads here: pass `path`, `url` or `data` to detect_image.")
    base = await app.upload_pages.base_url(ctx.request_context.request)
    shown = clean_line(note)[:MAX_NOTE] if note and note.strip() else None
    upload = app.uploads.open(lambda upload_id: f"{base}upload/{upload_id}", note=shown)
    request = UploadRequest(
        upload_id=upload.id,
        upload_url=upload.url,
        expires_at=upload.expires_at,
        note=shown,
        next_step=NEXT_STEP.format(upload_id=upload.id),
    )
    text = render_upload_request(request)
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=request.model_copy(update={"summary": text}).model_dump(mode="json"),
    )
