"""The tools, as plain module-level functions: arguments in, a tool result (or a `ToolError`) out.

Deliberately thin. Everything that decides *what* happens lives in `detection/`; a tool only
maps its arguments to options, progress across, and a report or error to a `CallToolResult`
(structured content for clients that read it, and a text block carrying everything essential
for the many that show the model only text). `server.create_server` registers them.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from mcp.server.apps import client_supports_apps
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import CallToolResult, ContentBlock, ImageContent, ResourceLink, TextContent
from pydantic import Field

from truthscan_mcp.adapter import texts
from truthscan_mcp.adapter.confirm import SpendConfirmation, SpendPlan, can_elicit, question, refused
from truthscan_mcp.adapter.declare import declare
from truthscan_mcp.adapter.heatmap import describe_heatmap
from truthscan_mcp.adapter.render import (
    render_batch,
    render_credits,
    render_export,
    render_health,
    render_provenance,
    render_report,
)
from truthscan_mcp.api.client import MAX_HEATMAP_BYTES
from truthscan_mcp.app import AppContext, check_health
from truthscan_mcp.detection.batch import (
    MAX_BATCH,
    BatchInput,
    SpendLimits,
    check_page_alone,
    expand_inputs,
    limit_inputs,
    quote_batch,
    run_batch,
)
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.detection.images import ImageSink
from truthscan_mcp.detection.progress import Progress, ProgressCallback
from truthscan_mcp.detection.sweep import DEFAULT_PAGE_IMAGES, sweep_page
from truthscan_mcp.errors import TruthScanError
from truthscan_mcp.evidence.export import Reporter
from truthscan_mcp.media.clipboard import BITMAP_NOTE, is_clipboard_bitmap
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


def _image_sink(ctx: Context[AppContext]) -> ImageSink | None:
    """The server's image store when this client renders MCP Apps (the evidence view shows the
    image), else None: nothing is read again or kept for a client that shows only text."""
    images = ctx.request_context.lifespan_context.images
    return images if images is not None and client_supports_apps(ctx) else None


def _progress_to(ctx: Context[AppContext]) -> ProgressCallback:
    async def send(progress: Progress) -> None:
        await ctx.report_progress(progress.fraction * 100, 100, message=progress.message)

    return send


async def _report_result(app: AppContext, report: DetectionReport, include_heatmap: bool) -> CallToolResult:
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


#: the one image source of `detect_image` and `check_provenance` (exactly one of the three)
PathArgument = Annotated[
    str | None, Field(description="Local image file path (~ expanded) or file:// URI.", max_length=4096)
]
UrlArgument = Annotated[
    str | None, Field(description="http(s) URL of the image; this server downloads it.", max_length=8192)
]
DataArgument = Annotated[
    str | None, Field(description="The image as base64, or a data:image/...;base64, URI.")
]
ClipboardArgument = Annotated[
    bool,
    Field(
        description="true: the image on the person's system clipboard (they copy it first: "
        "right-click → Copy Image, or copy the file)."
    ),
]
UploadArgument = Annotated[
    str | None,
    Field(
        description="The upload_id from request_image: the image the person dropped on its page.",
        max_length=100,
    ),
]


def _bitmap_noted(report: DetectionReport) -> DetectionReport:
    """A copied bitmap says so: its pixels came without the file's metadata."""
    if not is_clipboard_bitmap(report.source.kind, report.source.name):
        return report
    return report.model_copy(update={"warnings": [*report.warnings, BITMAP_NOTE]})


def _bitmap_provenance(provenance: Provenance) -> Provenance:
    source = provenance.source
    if source is None or not is_clipboard_bitmap(source.kind, source.name):
        return provenance
    return provenance.model_copy(update={"evidence": [*provenance.evidence, BITMAP_NOTE]})


@declare(
    title="Detect an AI-generated image", description=texts.DETECT_DESCRIPTION, read_only=False, view=True
)
async def detect_image(
    ctx: Context[AppContext],
    path: PathArgument = None,
    url: UrlArgument = None,
    data: DataArgument = None,
    clipboard: ClipboardArgument = False,
    upload: UploadArgument = None,
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
    include_heatmap: Annotated[bool, Field(description="Attach the heatmap image when it is ready.")] = False,
    preview: Annotated[bool, Field(description="Ask TruthScan for a preview URL.")] = False,
    force: Annotated[
        bool, Field(description="Bypass the local result cache and spend credits again.")
    ] = False,
) -> Annotated[CallToolResult, DetectionReport]:
    app = ctx.request_context.lifespan_context
    options = DetectOptions(
        deep_analysis=deep_analysis,
        wait_seconds=app.settings.wait_seconds if wait_seconds is None else wait_seconds,
        include_heatmap=include_heatmap,
        preview=preview,
        force=force,
    )
    with tool_errors():
        report = await app.detector.detect(
            path=path,
            url=url,
            data=data,
            options=options,
            progress=_progress_to(ctx),
            images=_image_sink(ctx),
            clipboard=clipboard,
            upload=upload,
        )
    return await _report_result(app, _bitmap_noted(report), include_heatmap)


PathsArgument = Annotated[
    list[Annotated[str, Field(max_length=4096)]] | None,
    Field(description="Local image file paths (or file:// URIs), at most 100.", max_length=MAX_BATCH),
]
DirectoryArgument = Annotated[
    str | None,
    Field(
        description="A local directory whose images to check (inside the allowed directories).",
        max_length=4096,
    ),
]
PatternArgument = Annotated[
    str | None,
    Field(
        description="Glob for `directory`, e.g. '*.jpg' or '**/*.png' (default: every "
        "supported image file directly inside it).",
        max_length=200,
    ),
]
RecursiveArgument = Annotated[bool, Field(description="Also look in the directory's subdirectories.")]
UrlsArgument = Annotated[
    list[Annotated[str, Field(max_length=8192)]] | None,
    Field(description="http(s) image URLs, at most 100.", max_length=MAX_BATCH),
]
BatchDeepArgument = Annotated[
    bool, Field(description="Request and wait for deep-analysis reasoning for every image (slower).")
]
ForceArgument = Annotated[bool, Field(description="Bypass the local result cache and spend credits again.")]
AllowPartialArgument = Annotated[
    bool,
    Field(
        description="When the credits cannot cover the batch, detect as many as they cover "
        "instead of refusing."
    ),
]
PageArgument = Annotated[
    str | None,
    Field(
        description="The http(s) URL of a web page: every image it shows (img, srcset, picture, "
        "og:image, twitter:image, video poster, data: images) is checked; tiny and unreadable "
        "images are listed in `skipped` instead of paid for.",
        max_length=8192,
    ),
]
MaxImagesArgument = Annotated[
    int | None,
    Field(
        description=f"At most this many images are detected (default {DEFAULT_PAGE_IMAGES} for "
        f"`page`; for the other sources every input, up to {MAX_BATCH}).",
        ge=1,
        le=MAX_BATCH,
    ),
]
MaxDetectionsArgument = Annotated[
    int | None,
    Field(
        description="Refuse the whole batch, before spending anything, if it would pay for more new "
        "detections than this (images already known and duplicates are free and not counted).",
        ge=0,
        le=MAX_BATCH,
    ),
]


async def spending_plan(
    ctx: Context[AppContext],
    paths: PathsArgument,
    directory: DirectoryArgument,
    pattern: PatternArgument,
    recursive: RecursiveArgument,
    urls: UrlsArgument,
    deep_analysis: BatchDeepArgument,
    force: ForceArgument,
    allow_partial: AllowPartialArgument,
    page: PageArgument,
    max_images: MaxImagesArgument,
    max_detections: MaxDetectionsArgument,
) -> SpendPlan:
    """Resolver: whether this batch must ask the person first (it would pay for more than
    `TRUTHSCAN_CONFIRM_ABOVE` and the client can ask). Prices it only then, raising what the
    batch would be refused for, so nobody is asked about a batch that cannot run."""
    app = ctx.request_context.lifespan_context
    if not can_elicit(ctx):
        return SpendPlan(ask=False)
    options = DetectOptions(deep_analysis=deep_analysis, force=force)
    limits = SpendLimits(max_detections=max_detections)
    with tool_errors():
        if page is not None and page.strip():
            check_page_alone(paths=paths, directory=directory, urls=urls, pattern=pattern)
            sweep = await sweep_page(app.settings, page, max_images=max_images or DEFAULT_PAGE_IMAGES)
            try:
                return await _price(app, sweep.inputs, options, allow_partial=allow_partial, limits=limits)
            finally:
                await sweep.aclose()
        inputs = await expand_inputs(
            app.settings, paths=paths, directory=directory, pattern=pattern, recursive=recursive, urls=urls
        )
        inputs = limit_inputs(inputs, max_images, directory=bool(directory))
        return await _price(app, inputs, options, allow_partial=allow_partial, limits=limits)


async def _price(
    app: AppContext,
    inputs: list[BatchInput],
    options: DetectOptions,
    *,
    allow_partial: bool,
    limits: SpendLimits,
) -> SpendPlan:
    threshold = app.settings.confirm_above
    if len(inputs) <= threshold:  # cannot pay for more: nothing to price
        return SpendPlan(ask=False, most=threshold)
    quote = await quote_batch(
        app.detector, inputs, options=options, allow_partial=allow_partial, limits=limits
    )
    if quote.to_pay <= threshold:
        return SpendPlan(ask=False, quote=quote, most=threshold)
    return SpendPlan(ask=True, quote=quote, most=quote.to_pay)


def confirm_spending(
    plan: Annotated[SpendPlan, Resolve(spending_plan)],
) -> Elicit[SpendConfirmation] | SpendConfirmation:
    """Resolver: the question, when there is one to ask; else a yes nobody had to give."""
    if not plan.ask or plan.quote is None:
        return SpendConfirmation(spend=True)
    return Elicit(question(plan.quote), SpendConfirmation)


@declare(
    title="Detect AI-generated images in bulk",
    description=texts.BATCH_DESCRIPTION,
    read_only=False,
    view=True,
)
async def detect_images(
    ctx: Context[AppContext],
    plan: Annotated[SpendPlan, Resolve(spending_plan)],
    confirmation: Annotated[ElicitationResult[SpendConfirmation], Resolve(confirm_spending)],
    paths: PathsArgument = None,
    directory: DirectoryArgument = None,
    pattern: PatternArgument = None,
    recursive: RecursiveArgument = False,
    urls: UrlsArgument = None,
    deep_analysis: BatchDeepArgument = False,
    wait_seconds: Annotated[
        float | None,
        Field(
            description="Seconds to wait for the whole batch before handing off unfinished images "
            "(default from TRUTHSCAN_WAIT_SECONDS, 45).",
            ge=0,
            le=600,
        ),
    ] = None,
    force: ForceArgument = False,
    allow_partial: AllowPartialArgument = False,
    page: PageArgument = None,
    max_images: MaxImagesArgument = None,
    max_detections: MaxDetectionsArgument = None,
) -> Annotated[CallToolResult, BatchResult]:
    app = ctx.request_context.lifespan_context
    if not isinstance(confirmation, AcceptedElicitation) or not confirmation.data.spend:
        raise ToolError(refused(plan, confirmation.action if confirmation.action != "accept" else "decline"))
    options = DetectOptions(
        deep_analysis=deep_analysis,
        wait_seconds=app.settings.wait_seconds if wait_seconds is None else wait_seconds,
        force=force,
    )

    async def progress(done: float, total: int, message: str) -> None:
        await ctx.report_progress(done, total, message=message)

    async def run(inputs: list[BatchInput]) -> BatchResult:
        return await run_batch(
            app.detector,
            inputs,
            options=options,
            allow_partial=allow_partial,
            max_concurrency=app.settings.max_concurrency,
            progress=progress,
            images=_image_sink(ctx),
            limits=SpendLimits(max_detections=max_detections, approved=plan.most),
        )

    with tool_errors():
        if page is not None and page.strip():
            check_page_alone(paths=paths, directory=directory, urls=urls, pattern=pattern)
            sweep = await sweep_page(app.settings, page, max_images=max_images or DEFAULT_PAGE_IMAGES)
            try:
                result = await run(sweep.inputs)
            finally:
                await sweep.aclose()
            result = result.model_copy(
                update={"page_url": sweep.page_url, "page_title": sweep.page_title, "skipped": sweep.skipped}
            )
        else:
            inputs = await expand_inputs(
                app.settings,
                paths=paths,
                directory=directory,
                pattern=pattern,
                recursive=recursive,
                urls=urls,
            )
            result = await run(limit_inputs(inputs, max_images, directory=bool(directory)))
    return tool_result(result, render_batch(result))


@declare(title="Get a detection result", description=texts.GET_RESULT_DESCRIPTION, read_only=True, view=True)
async def get_result(
    ctx: Context[AppContext],
    id: Annotated[
        str,
        Field(description="The TruthScan document id (a UUID) returned by detect_image.", max_length=100),
    ],
    wait_seconds: Annotated[
        float, Field(description="Seconds to wait for completion (0 = answer at once).", ge=0, le=600)
    ] = 0,
    include_heatmap: Annotated[bool, Field(description="Attach the heatmap image when it is ready.")] = False,
) -> Annotated[CallToolResult, DetectionReport]:
    app = ctx.request_context.lifespan_context
    with tool_errors():
        report = await app.detector.get_result(
            id, wait_seconds=wait_seconds, include_heatmap=include_heatmap, progress=_progress_to(ctx)
        )
    return await _report_result(app, report, include_heatmap)


# reads the file, or downloads the URL it is given, and asks nobody: not an open world
@declare(
    title="Check an image's declared provenance (free)",
    description=texts.PROVENANCE_DESCRIPTION,
    read_only=True,
    open_world=False,
)
async def check_provenance(
    ctx: Context[AppContext],
    path: PathArgument = None,
    url: UrlArgument = None,
    data: DataArgument = None,
    clipboard: ClipboardArgument = False,
    upload: UploadArgument = None,
    wait_seconds: Annotated[
        float | None,
        Field(
            description="With `upload`: seconds to wait for the person to drop the image "
            "(default from TRUTHSCAN_WAIT_SECONDS, 45).",
            ge=0,
            le=600,
        ),
    ] = None,
) -> Annotated[CallToolResult, Provenance]:
    app = ctx.request_context.lifespan_context
    wait = app.settings.wait_seconds if wait_seconds is None else wait_seconds
    with tool_errors():
        provenance = await app.detector.provenance(
            path=path, url=url, data=data, clipboard=clipboard, upload=upload, wait_seconds=wait
        )
    provenance = _bitmap_provenance(provenance)
    return tool_result(provenance, render_provenance(provenance))


@declare(title="Check TruthScan credits", description=texts.CREDITS_DESCRIPTION, read_only=True)
async def check_credits(ctx: Context[AppContext]) -> Annotated[CallToolResult, Credits]:
    app = ctx.request_context.lifespan_context
    with tool_errors():
        credits = await app.detector.credits()
    return tool_result(credits, render_credits(credits))


@declare(title="TruthScan health", description=texts.HEALTH_DESCRIPTION, read_only=True)
async def health(ctx: Context[AppContext]) -> Annotated[CallToolResult, Health]:
    app = ctx.request_context.lifespan_context
    result = await check_health(app)
    return tool_result(result, render_health(result, app.client.knobs.add_key_hint()))


def reporter(app: AppContext) -> Reporter:
    """The evidence-report writer over this server's detector, client and cache."""
    return Reporter(app.detector, app.client, app.store, app.settings)


# writes new files only: not read-only, destroys nothing, a repeat writes another file, asks
# nobody outside (the heatmap comes from TruthScan's own storage, as get_result's does)
@declare(
    title="Export an evidence report",
    description=texts.EXPORT_DESCRIPTION,
    read_only=False,
    open_world=False,
    idempotent=False,
)
async def export_report(
    ctx: Context[AppContext],
    id: Annotated[
        str,
        Field(
            description="The TruthScan document id (a UUID) of a detection this server answered.",
            max_length=100,
        ),
    ],
    directory: Annotated[
        str | None,
        Field(
            description="Folder to write into, inside the allowed folders (default: the reports folder).",
            max_length=4096,
        ),
    ] = None,
) -> Annotated[CallToolResult, ExportedReport]:
    app = ctx.request_context.lifespan_context
    with tool_errors():
        exported = await reporter(app).export(id, directory)
    links: list[ContentBlock] = [
        ResourceLink(
            type="resource_link",
            uri=Path(path).as_uri(),
            name=Path(path).name,
            title=title,
            mime_type=mime,
        )
        for path, title, mime in (
            (exported.html_path, "Evidence report (HTML)", "text/html"),
            (exported.json_path, "Evidence report facts (JSON sidecar)", "application/json"),
        )
    ]
    return tool_result(exported, render_export(exported), *links)
