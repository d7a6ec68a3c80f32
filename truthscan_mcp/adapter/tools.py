"""The tools, as plain module-level functions: arguments in, a tool result (or a `ToolError`) out.

Deliberately thin. Everything that decides *what* happens lives in `detection/`; a tool only
maps its arguments to options, progress across, and a report or error to a `CallToolResult`
(structured content for clients that read it, and a text block carrying everything essential
for the many that show the model only text). `server.create_server` registers them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

from mcp.server.apps import client_supports_apps
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import CallToolResult, ContentBlock, ResourceLink
from pydantic import Field

from truthscan_mcp.adapter import texts
from truthscan_mcp.adapter.confirm import SpendConfirmation, SpendPlan, can_elicit, question, refused
from truthscan_mcp.adapter.declare import declare
from truthscan_mcp.adapter.oauth import current_user
from truthscan_mcp.adapter.provenance_text import render_provenance
from truthscan_mcp.adapter.render import (
    render_batch,
    render_credits,
    render_export,
    render_health,
)
from truthscan_mcp.adapter.results import report_result, tool_errors, tool_result
from truthscan_mcp.adapter.tool_arguments import (
    AllowPartialArgument,
    BatchDeepArgument,
    BatchWaitArgument,
    ClipboardArgument,
    DataArgument,
    DirectoryArgument,
    ForceArgument,
    MaxDetectionsArgument,
    MaxImagesArgument,
    PageArgument,
    PathArgument,
    PathsArgument,
    PatternArgument,
    RecursiveArgument,
    UploadArgument,
    UrlArgument,
    UrlsArgument,
)
from truthscan_mcp.app import AppContext, check_health
from truthscan_mcp.detection.batch import (
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
from truthscan_mcp.evidence.export import Reporter
from truthscan_mcp.media.clipboard import BITMAP_NOTE, is_clipboard_bitmap
from truthscan_mcp.models import BatchResult, Credits, DetectionReport, ExportedReport, Health, Provenance


def _image_sink(ctx: Context[AppContext]) -> ImageSink | None:
    """The server's image store when this client renders MCP Apps (the evidence view shows the
    image), else None: nothing is read again or kept for a client that shows only text."""
    images = ctx.request_context.lifespan_context.images
    return images if images is not None and client_supports_apps(ctx) else None


def _progress_to(ctx: Context[AppContext]) -> ProgressCallback:
    async def send(progress: Progress) -> None:
        await ctx.report_progress(progress.fraction * 100, 100, message=progress.message)

    return send


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
        user=current_user(app.settings),
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
    return await report_result(app, _bitmap_noted(report), include_heatmap)


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
    options = DetectOptions(deep_analysis=deep_analysis, force=force, user=current_user(app.settings))
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
    wait_seconds: BatchWaitArgument = None,
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
        user=current_user(app.settings),
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
            result = await _run_page(app, page, max_images, run)
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


async def _run_page(
    app: AppContext,
    page: str,
    max_images: int | None,
    run: Callable[[list[BatchInput]], Awaitable[BatchResult]],
) -> BatchResult:
    """A page sweep: the page's images run as one batch, its title and what was skipped kept."""
    sweep = await sweep_page(app.settings, page, max_images=max_images or DEFAULT_PAGE_IMAGES)
    try:
        result = await run(sweep.inputs)
    finally:
        await sweep.aclose()
    return result.model_copy(
        update={"page_url": sweep.page_url, "page_title": sweep.page_title, "skipped": sweep.skipped}
    )


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
    return await report_result(app, report, include_heatmap)


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
        credits = await app.detector.credits(current_user(app.settings))
    return tool_result(credits, render_credits(credits))


@declare(title="TruthScan health", description=texts.HEALTH_DESCRIPTION, read_only=True)
async def health(ctx: Context[AppContext]) -> Annotated[CallToolResult, Health]:
    app = ctx.request_context.lifespan_context
    result = await check_health(app)
    return tool_result(result, render_health(result, app.client.hints.add_key_hint()))


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
