"""What a tool hands back: a result model as the text and structured content every client
reads, a detection report with its heatmap attached, and a `TruthScanError` as a tool error."""

from __future__ import annotations

import base64
import logging
from collections.abc import Generator
from contextlib import contextmanager

import anyio.to_thread
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent

from truthscan_mcp.adapter.heatmap_words import describe_heatmap
from truthscan_mcp.adapter.render import render_report
from truthscan_mcp.api.client import MAX_HEATMAP_BYTES
from truthscan_mcp.app import AppContext
from truthscan_mcp.errors import TruthScanError
from truthscan_mcp.models import BatchResult, Credits, DetectionReport, ExportedReport, Health, Provenance
from truthscan_mcp.sanitize import clean_text

logger = logging.getLogger(__name__)

#: every result model carries its own text as `summary`
Summarised = DetectionReport | BatchResult | Credits | Health | Provenance | ExportedReport


@contextmanager
def tool_errors() -> Generator[None]:
    """A `TruthScanError` as the tool error the model reads: its message says what to do next."""
    try:
        yield
    except TruthScanError as exc:
        # a message may quote outside text (a path, TruthScan's words): no control reaches the model
        raise ToolError(clean_text(exc.message, multiline=True)) from None


def tool_result(model: Summarised, text: str, *extra: ContentBlock) -> CallToolResult:
    """`model` as structured content, `text` for clients that show only text, then `extra`.

    The text also goes into the structured content as `summary`: some clients (Claude Code,
    Codex, Copilot CLI) hand the model only the structured JSON, others only the text block, and
    either way the framing and the next step must reach it.
    """
    return CallToolResult(
        content=[TextContent(type="text", text=text), *extra],
        structured_content=model.model_copy(update={"summary": text}).model_dump(mode="json"),
    )


async def report_result(app: AppContext, report: DetectionReport, include_heatmap: bool) -> CallToolResult:
    """A report as a tool result; with `include_heatmap`, the heatmap attached as an image and
    described in words (for models that cannot see it), or a warning saying why there is none."""
    blocks: list[ContentBlock] = []
    heatmap_words: str | None = None
    if include_heatmap:
        if report.heatmap_status == "ready" and report.heatmap_url:
            try:
                image = await app.client.fetch_image(report.heatmap_url, max_bytes=MAX_HEATMAP_BYTES)
                if image is not None:
                    data, media_type = image  # the type its magic bytes show, never the server's label
                    # decoding a PNG takes a while: off the event loop, which serves other calls
                    heatmap_words = await anyio.to_thread.run_sync(describe_heatmap, data)
                    blocks.append(
                        ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type=media_type)
                    )
            except Exception:  # the report (and its paid id) goes out whatever the heatmap does
                logger.exception("attaching the heatmap of %s failed", report.id)
                image = None
            if image is None:
                report = report.model_copy(
                    update={"warnings": [*report.warnings, "The heatmap could not be downloaded."]}
                )
        elif report.heatmap_status is None and report.status == "done":
            report = report.model_copy(
                update={
                    "warnings": [
                        *report.warnings,
                        "No heatmap for this image (TruthScan makes them only for AI scores of 20 or more).",
                    ]
                }
            )
    return tool_result(report, render_report(report, heatmap_words), *blocks)
