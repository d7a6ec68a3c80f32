"""The MCP adapter: declares the tools and turns workflow results into tool results.

Deliberately thin. Everything that decides *what* happens lives in `workflow.py`; this module
only maps arguments in, reports and errors out, and progress across.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, cast

from mcp.server.apps import client_supports_apps  # UI wiring
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from truthscan_mcp import __version__
from truthscan_mcp.adapter.apps import UI_META, ImageStore, create_apps, remember_local_files  # UI wiring
from truthscan_mcp.adapter.render import render_batch, render_credits, render_health, render_report
from truthscan_mcp.app import AppContext, check_health, open_app, read_history
from truthscan_mcp.detection.batch import MAX_BATCH, BatchResult, expand_inputs, run_batch
from truthscan_mcp.detection.detector import DetectOptions, Progress, ProgressCallback
from truthscan_mcp.errors import InvalidInputError, NotFoundError, TruthScanError
from truthscan_mcp.media.sources import load_image  # UI wiring
from truthscan_mcp.models import Credits, DetectionReport, Health
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from truthscan_mcp.sandbox import Sandbox

logger = logging.getLogger(__name__)

MAX_HEATMAP_BYTES = 2 * 1024 * 1024

INSTRUCTIONS = """\
truthscan-mcp answers "is this image AI-generated, and why?" with the TruthScan AI Image Detection API.

- detect_image: give exactly one of `path` (a local file), `url` (http/https) or `data` (base64 or a
  data: URI). It uploads the image, waits for TruthScan's verdict and deep-analysis reasoning, and
  returns them in one result. It spends TruthScan credits, except when the same image bytes were
  already checked (then the cached result is returned for free).
- detect_images: the same for many images at once (a list of paths, a directory, or URLs; up to 100),
  one row per image plus a summary. Prefer it over many detect_image calls.
- get_result: fetch (or keep waiting for) a result by its id — use it when detect_image handed off
  with complete=false and a next_step. Free.
- check_credits: the remaining TruthScan credits. health: whether TruthScan is reachable.

A verdict is a probability with reasons, not proof. When you report it, give the verdict and the AI
score, quote TruthScan's reasoning and key indicators, and do not overstate certainty. Results
marked simulated come from the built-in sandbox and say nothing about the real image.
"""

DETECT_DESCRIPTION = """\
Check whether an image is AI-generated, using TruthScan. Give exactly one source: `path` (a local
file path or file:// URI, inside the allowed directories), `url` (http/https, downloaded by this
server) or `data` (base64 or a data:image/...;base64, URI). Supported: JPEG, PNG, WebP, HEIC/HEIF,
AVIF, BMP, TIFF, 1 KB to 10 MB.

Returns the verdict (e.g. "AI Generated", "Real", "Digitally Edited"), an AI score 0-100, confidence,
the detector signals and, with deep_analysis, TruthScan's reasoning, key indicators and
recommendations. Spends TruthScan credits for new image bytes; the same bytes are answered from the
local cache for free unless force=true. If the result is not complete within wait_seconds, it
returns what it has with complete=false and a next_step: then call get_result with the id.\
"""

BATCH_DESCRIPTION = """\
Check many images at once for AI generation: give exactly one of `paths` (a list of local files),
`directory` (with an optional glob `pattern`, optionally `recursive`) or `urls` (a list). At most 100
images. Every input is validated and the credits are checked before anything is spent; identical
images are detected once and known images come from the local cache for free. One image's failure
is its own row. Returns one row per image (verdict, AI score, confidence band, id) and a summary;
unfinished images at the deadline come back with their ids for get_result. Spends credits.\
"""

GET_RESULT_DESCRIPTION = """\
Fetch a TruthScan detection result by its id (a UUID returned by detect_image), optionally waiting
up to wait_seconds for it to complete (verdict and deep analysis). Spends no credits. Use it to
finish a detection that detect_image handed off with complete=false, or to attach the heatmap.\
"""

CREDITS_DESCRIPTION = """\
Show the TruthScan credits left on the configured API key (base, boost and total). Use it before a
large batch, or when a detection failed for lack of credits. Spends nothing.\
"""

HEALTH_DESCRIPTION = """\
Check that TruthScan is reachable and healthy, and how this server is configured (API key present,
sandbox mode, version). Needs no API key and spends nothing. Use it to diagnose failures.\
"""

HISTORY_RESOURCE_DESCRIPTION = """\
Recent detect_image answers, newest first: when, the image's name, verdict, AI score, the TruthScan
id, and whether credits were spent or the local cache answered. Read result details with
truthscan://results/{id}.\
"""

RESULT_RESOURCE_DESCRIPTION = """\
One detection report as JSON, by TruthScan document id: from the local cache when it is final,
otherwise fetched from TruthScan (free).\
"""


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


def _progress_to(ctx: Context) -> ProgressCallback:
    async def send(progress: Progress) -> None:
        await ctx.report_progress(progress.fraction * 100, 100, message=progress.message)

    return send


def _app(ctx: Context) -> AppContext:
    return cast(AppContext, ctx.request_context.lifespan_context)


async def _report_result(app: AppContext, report: DetectionReport, include_heatmap: bool) -> CallToolResult:
    blocks: list[ContentBlock] = []
    if include_heatmap:
        if report.heatmap_status == "ready" and report.heatmap_url:
            image = await app.client.fetch_image(report.heatmap_url, max_bytes=MAX_HEATMAP_BYTES)
            if image is not None:
                data, media_type = image
                if not media_type.startswith("image/"):
                    media_type = "image/png"
                blocks.append(
                    ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type=media_type)
                )
            else:
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
    text = TextContent(type="text", text=render_report(report))
    return CallToolResult(content=[text, *blocks], structured_content=report.model_dump(mode="json"))


def create_server(
    settings: Settings | None = None, *, sandbox: Sandbox | None = None
) -> MCPServer[AppContext]:
    """The MCP server; `sandbox` lets tests share one simulator with the in-process mode."""
    settings = settings or Settings()
    # Static resources get no request context in the SDK, so the history resource reads the
    # store of whichever lifespan is open (all of them share one cache file).
    live: list[AppContext] = []
    images = ImageStore()  # UI wiring: thumbnails for the evidence view

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppContext]) -> AsyncGenerator[AppContext]:
        async with open_app(settings, sandbox) as app:
            logger.info(
                "truthscan-mcp %s ready (%s)",
                __version__,
                "sandbox" if settings.sandbox else app.settings.api_url,
            )
            live.append(app)
            try:
                yield app
            finally:
                live.remove(app)

    mcp: MCPServer[AppContext] = MCPServer(
        name="truthscan-mcp",
        title="TruthScan AI image detection",
        instructions=INSTRUCTIONS,
        version=__version__,
        website_url="https://truthscan.com",
        lifespan=lifespan,
        log_level=settings.log_level,
        extensions=[create_apps(images)],  # UI wiring
    )

    @mcp.resource(
        "truthscan://history",
        name="history",
        title="Recent detections",
        description=HISTORY_RESOURCE_DESCRIPTION,
        mime_type="application/json",
    )
    async def history() -> str:  # pyright: ignore[reportUnusedFunction]
        if not live:
            raise ResourceError("The server is still starting; read the history again in a moment.")
        return (await read_history(live[-1])).model_dump_json(indent=2)

    @mcp.resource(
        "truthscan://results/{id}",
        name="result",
        title="A detection result",
        description=RESULT_RESOURCE_DESCRIPTION,
        mime_type="application/json",
    )
    async def result(id: str, ctx: Context) -> str:  # pyright: ignore[reportUnusedFunction]
        try:
            report = await _app(ctx).detector.get_result(id)
        except (InvalidInputError, NotFoundError) as exc:
            raise ResourceNotFoundError(exc.message) from None
        except TruthScanError as exc:
            raise ResourceError(exc.message) from None
        return report.model_dump_json(indent=2)

    @mcp.tool(
        name="detect_image",
        meta=UI_META,  # UI wiring
        title="Detect an AI-generated image",
        description=DETECT_DESCRIPTION,
        annotations=_annotations("Detect an AI-generated image", read_only=False),
    )
    async def detect_image(  # pyright: ignore[reportUnusedFunction]
        ctx: Context,
        path: Annotated[
            str | None,
            Field(description="Local image file path (~ expanded) or file:// URI.", max_length=4096),
        ] = None,
        url: Annotated[
            str | None,
            Field(description="http(s) URL of the image; this server downloads it.", max_length=8192),
        ] = None,
        data: Annotated[
            str | None,
            Field(description="The image as base64, or a data:image/...;base64, URI."),
        ] = None,
        deep_analysis: Annotated[
            bool, Field(description="Request and wait for TruthScan's deep-analysis reasoning.")
        ] = True,
        wait_seconds: Annotated[
            float | None,
            Field(
                description="Seconds to wait for a complete result before handing off "
                "(default from TRUTHSCAN_WAIT_SECONDS, 45; 0 = submit and return at once).",
                ge=0,
                le=600,
            ),
        ] = None,
        include_heatmap: Annotated[
            bool, Field(description="Attach the heatmap image when it is ready.")
        ] = False,
        preview: Annotated[bool, Field(description="Ask TruthScan for a preview URL.")] = False,
        force: Annotated[
            bool, Field(description="Bypass the local result cache and spend credits again.")
        ] = False,
    ) -> Annotated[CallToolResult, DetectionReport]:
        app = _app(ctx)
        options = DetectOptions(
            deep_analysis=deep_analysis,
            wait_seconds=app.settings.wait_seconds if wait_seconds is None else wait_seconds,
            include_heatmap=include_heatmap,
            preview=preview,
            force=force,
        )
        try:
            if client_supports_apps(ctx):  # UI wiring: keep the bytes' thumbnail for the page
                async with await load_image(path=path, url=url, data=data, settings=app.settings) as image:
                    report = await app.detector.detect_loaded(image, options, progress=_progress_to(ctx))
                    if report.id:
                        await images.remember(report.id, await image.read_bytes(), image.media_type)
            else:
                report = await app.detector.detect(
                    path=path, url=url, data=data, options=options, progress=_progress_to(ctx)
                )
        except TruthScanError as exc:
            raise ToolError(exc.message) from None
        return await _report_result(app, report, include_heatmap)

    @mcp.tool(
        name="detect_images",
        meta=UI_META,  # UI wiring
        title="Detect AI-generated images in bulk",
        description=BATCH_DESCRIPTION,
        annotations=_annotations("Detect AI-generated images in bulk", read_only=False),
    )
    async def detect_images(  # pyright: ignore[reportUnusedFunction]
        ctx: Context,
        paths: Annotated[
            list[Annotated[str, Field(max_length=4096)]] | None,
            Field(description="Local image file paths (or file:// URIs), at most 100.", max_length=MAX_BATCH),
        ] = None,
        directory: Annotated[
            str | None,
            Field(
                description="A local directory whose images to check (inside the allowed directories).",
                max_length=4096,
            ),
        ] = None,
        pattern: Annotated[
            str | None,
            Field(
                description="Glob for `directory`, e.g. '*.jpg' or '**/*.png' (default: every "
                "supported image file directly inside it).",
                max_length=200,
            ),
        ] = None,
        recursive: Annotated[bool, Field(description="Also look in the directory's subdirectories.")] = False,
        urls: Annotated[
            list[Annotated[str, Field(max_length=8192)]] | None,
            Field(description="http(s) image URLs, at most 100.", max_length=MAX_BATCH),
        ] = None,
        deep_analysis: Annotated[
            bool, Field(description="Request and wait for deep-analysis reasoning for every image (slower).")
        ] = False,
        wait_seconds: Annotated[
            float | None,
            Field(
                description="Seconds to wait for the whole batch before handing off unfinished images "
                "(default from TRUTHSCAN_WAIT_SECONDS, 45).",
                ge=0,
                le=600,
            ),
        ] = None,
        force: Annotated[
            bool, Field(description="Bypass the local result cache and spend credits again.")
        ] = False,
        allow_partial: Annotated[
            bool,
            Field(
                description="When the credits cannot cover the batch, detect as many as they cover "
                "instead of refusing."
            ),
        ] = False,
    ) -> Annotated[CallToolResult, BatchResult]:
        app = _app(ctx)
        options = DetectOptions(
            deep_analysis=deep_analysis,
            wait_seconds=app.settings.wait_seconds if wait_seconds is None else wait_seconds,
            force=force,
        )

        async def progress(done: float, total: int, message: str) -> None:
            await ctx.report_progress(done, total, message=message)

        try:
            inputs = await expand_inputs(
                app.settings,
                paths=paths,
                directory=directory,
                pattern=pattern,
                recursive=recursive,
                urls=urls,
            )
            result = await run_batch(
                app.detector,
                inputs,
                options=options,
                allow_partial=allow_partial,
                max_concurrency=app.settings.max_concurrency,
                progress=progress,
            )
        except TruthScanError as exc:
            raise ToolError(exc.message) from None
        if client_supports_apps(ctx) and urls is None:  # UI wiring: thumbnails for the batch grid
            local = [(row.id, row.source) for row in result.rows if row.id and row.error is None]
            await remember_local_files(images, app.settings, local)
        return CallToolResult(
            content=[TextContent(type="text", text=render_batch(result))],
            structured_content=result.model_dump(mode="json"),
        )

    @mcp.tool(
        name="get_result",
        meta=UI_META,  # UI wiring
        title="Get a detection result",
        description=GET_RESULT_DESCRIPTION,
        annotations=_annotations("Get a detection result", read_only=True),
    )
    async def get_result(  # pyright: ignore[reportUnusedFunction]
        ctx: Context,
        id: Annotated[
            str,
            Field(description="The TruthScan document id (a UUID) returned by detect_image.", max_length=100),
        ],
        wait_seconds: Annotated[
            float, Field(description="Seconds to wait for completion (0 = answer at once).", ge=0, le=600)
        ] = 0,
        include_heatmap: Annotated[
            bool, Field(description="Attach the heatmap image when it is ready.")
        ] = False,
    ) -> Annotated[CallToolResult, DetectionReport]:
        app = _app(ctx)
        try:
            report = await app.detector.get_result(
                id, wait_seconds=wait_seconds, include_heatmap=include_heatmap, progress=_progress_to(ctx)
            )
        except TruthScanError as exc:
            raise ToolError(exc.message) from None
        return await _report_result(app, report, include_heatmap)

    @mcp.tool(
        name="check_credits",
        title="Check TruthScan credits",
        description=CREDITS_DESCRIPTION,
        annotations=_annotations("Check TruthScan credits", read_only=True),
    )
    async def check_credits(ctx: Context) -> Annotated[CallToolResult, Credits]:  # pyright: ignore[reportUnusedFunction]
        app = _app(ctx)
        try:
            credits = await app.client.credits()
        except TruthScanError as exc:
            raise ToolError(exc.message) from None
        return CallToolResult(
            content=[TextContent(type="text", text=render_credits(credits))],
            structured_content=credits.model_dump(mode="json"),
        )

    @mcp.tool(
        name="health",
        title="TruthScan health",
        description=HEALTH_DESCRIPTION,
        annotations=_annotations("TruthScan health", read_only=True),
    )
    async def health(ctx: Context) -> Annotated[CallToolResult, Health]:  # pyright: ignore[reportUnusedFunction]
        app = _app(ctx)
        result = await check_health(app)
        return CallToolResult(
            content=[TextContent(type="text", text=render_health(result))],
            structured_content=result.model_dump(mode="json"),
        )

    return mcp
