"""Many images in one call: validate all, check the credits, then detect with bounded concurrency.

"Which of these 30 photos are AI-generated?" should cost the assistant one turn, and must not
spend a credit before every input has been checked locally and the account is known to cover
the batch. Identical bytes are detected once (the content cache and the in-process coalescing
of `Detector` see to that), one image's failure is its own row, never the batch's, and on the
deadline the finished rows come back with the ids of the rest.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidInputError, NotEnoughCreditsError, SourceNotAllowedError, TruthScanError
from .models import ConfidenceBand, DetectionReport
from .settings import Settings
from .sources import LoadedImage, load_image
from .workflow import DetectOptions, Detector

logger = logging.getLogger(__name__)

MAX_BATCH = 100
#: what a directory yields when no pattern is given: the supported image formats
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".webp", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff"}
)
#: local validation (hashing files, downloading URLs) runs this wide; it spends nothing
VALIDATION_CONCURRENCY = 8

BatchProgress = Callable[[int, int, str], Awaitable[None]]


class BatchRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="The path or URL as given.")
    name: str | None = Field(default=None, description="The image's file name or URL, for display.")
    verdict: str | None = None
    ai_score: float | None = None
    confidence_band: ConfidenceBand | None = None
    id: str | None = Field(default=None, description="TruthScan document id; get_result takes it.")
    complete: bool = False
    cached: bool = Field(default=False, description="Answered without spending credits.")
    duplicate_of: str | None = Field(default=None, description="An earlier input with the same bytes.")
    error: str | None = Field(default=None, description="Why this image has no verdict.")


class BatchSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    complete: int
    incomplete: int
    errors: int
    verdicts: dict[str, int] = Field(description="How many images got each verdict.")
    detections_paid: int = Field(description="New TruthScan detections submitted by this batch.")
    credits_spent: int | None = Field(description="Credits before minus after, when both were read.")
    cached: int = Field(description="Images answered from the cache or as duplicates, for free.")


class BatchResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[BatchRow]
    summary: BatchSummary
    simulated: bool = False
    elapsed_seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    next_step: str | None = None


@dataclass(frozen=True)
class _Input:
    kind: Literal["path", "url"]
    value: str


def expand_inputs(
    settings: Settings,
    *,
    paths: list[str] | None = None,
    directory: str | None = None,
    pattern: str | None = None,
    recursive: bool = False,
    urls: list[str] | None = None,
) -> list[_Input]:
    """The batch's inputs in order, refusing an ambiguous or oversized request up front."""
    given = [name for name, value in (("paths", paths), ("directory", directory), ("urls", urls)) if value]
    if len(given) != 1:
        raise InvalidInputError(
            "Give exactly one of `paths` (a list of files), `directory` (with an optional glob "
            f"`pattern`) or `urls` (a list of http/https addresses); got {', '.join(given) or 'none'}."
        )
    if pattern and not directory:
        raise InvalidInputError("`pattern` only applies together with `directory`.")
    inputs: list[_Input]
    if paths:
        inputs = [_Input("path", p) for p in paths]
    elif urls:
        inputs = [_Input("url", u) for u in urls]
    else:
        assert directory is not None
        inputs = [_Input("path", str(p)) for p in _list_directory(settings, directory, pattern, recursive)]
        if not inputs:
            what = f"matching {pattern!r}" if pattern else "with an image extension"
            raise InvalidInputError(
                f"No files {what} in {directory}{' (recursively)' if recursive else ''}. "
                "Check the directory and pattern (e.g. '*.jpg', or '**/*.png' with recursive)."
            )
    if len(inputs) > MAX_BATCH:
        raise InvalidInputError(
            f"This batch has {len(inputs)} images; the limit is {MAX_BATCH} per call. "
            "Split it, or narrow the directory's pattern."
        )
    return inputs


def _list_directory(settings: Settings, directory: str, pattern: str | None, recursive: bool) -> list[Path]:
    root = Path(directory.removeprefix("file://")).expanduser()
    try:
        real = root.resolve(strict=True)
    except OSError:
        raise InvalidInputError(
            f"There is no directory at {root}. It must exist on the machine running this server."
        ) from None
    if not real.is_dir():
        raise InvalidInputError(f"{root} is not a directory; pass files as `paths` instead.")
    if not any(real == allowed or real.is_relative_to(allowed) for allowed in settings.allowed_dirs):
        allowed = ", ".join(str(a) for a in settings.allowed_dirs)
        raise SourceNotAllowedError(
            f"The directory {root} is outside the directories this server may read. Allowed: "
            f"{allowed}. Set TRUTHSCAN_ALLOWED_DIRS ({os.pathsep}-separated) to add one."
        )
    recursive = recursive or bool(pattern and "**" in pattern)
    glob = (pattern or "").replace("**/", "")
    found: list[Path] = []
    # os.walk with followlinks=False: a symlinked directory cannot lead the walk out of the root.
    for current, dirs, files in os.walk(real, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(current) / name
            rel = path.relative_to(real).as_posix()
            if glob:
                if not (fnmatch.fnmatch(name, glob) or fnmatch.fnmatch(rel, glob)):
                    continue
            elif path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            found.append(path)
            if len(found) > MAX_BATCH:
                return found
        if not recursive:
            break
    return found


async def run_batch(
    detector: Detector,
    inputs: list[_Input],
    *,
    options: DetectOptions,
    allow_partial: bool = False,
    max_concurrency: int = 4,
    progress: BatchProgress | None = None,
) -> BatchResult:
    started = anyio.current_time()
    deadline = started + options.wait_seconds
    settings = detector.settings
    rows = [BatchRow(source=item.value) for item in inputs]
    images: list[LoadedImage | None] = [None] * len(inputs)
    total = len(inputs)
    done = 0

    async def tick(message: str) -> None:
        if progress is not None:
            try:
                await progress(done, total, message)
            except Exception:  # progress must never break a paid batch
                logger.debug("batch progress failed", exc_info=True)

    lead_of: dict[int, int] = {}
    leaders: dict[str, int] = {}
    skipped: set[int] = set()
    credits_before: int | None = None
    warnings: list[str] = []
    await tick(f"Validating {total} images")
    limiter = anyio.CapacityLimiter(VALIDATION_CONCURRENCY)

    async def validate(index: int) -> None:
        item = inputs[index]
        async with limiter:
            try:
                if item.kind == "url":
                    images[index] = await load_image(url=item.value, settings=settings)
                else:
                    images[index] = await load_image(path=item.value, settings=settings)
            except TruthScanError as exc:
                rows[index] = rows[index].model_copy(update={"error": exc.message})

    try:
        async with anyio.create_task_group() as group:
            for index in range(total):
                group.start_soon(validate, index)

        # Identical bytes are detected once: later inputs point at the first.
        for index, image in enumerate(images):
            if image is None:
                continue
            rows[index] = rows[index].model_copy(update={"name": image.name})
            first = leaders.setdefault(image.sha256, index)
            lead_of[index] = first
            if first != index:
                rows[index] = rows[index].model_copy(update={"duplicate_of": inputs[first].value})
        unique = sorted(leaders.values())

        to_pay = [i for i in unique if await _needs_paying(detector, images[i], options)]
        if to_pay:
            credits = await detector.client.credits()
            credits_before = credits.credits
            if credits.credits < len(to_pay):
                free = len(unique) - len(to_pay)
                if not allow_partial:
                    raise NotEnoughCreditsError(
                        f"This batch needs {len(to_pay)} new detections but only {credits.credits} "
                        f"credits are left ({free} images are already known and free). Nothing was "
                        "spent. Add credits, narrow the batch, or pass allow_partial=true to detect "
                        "as many as the credits cover."
                    )
                skipped = set(to_pay[max(credits.credits, 0) :])
                warnings.append(
                    f"Only {credits.credits} credits were left: {len(skipped)} images were skipped."
                )
        for index in skipped:
            rows[index] = rows[index].model_copy(
                update={"error": "Skipped: not enough credits left for this image (allow_partial)."}
            )

        done = sum(1 for i in range(total) if rows[i].error)
        await tick("Validated; detecting")
        reports: dict[int, DetectionReport] = {}
        pool = anyio.CapacityLimiter(max_concurrency)

        async def detect(index: int) -> None:
            nonlocal done
            image = images[index]
            assert image is not None
            async with pool:
                remaining = max(0.0, deadline - anyio.current_time())
                try:
                    report = await detector.detect_loaded(image, replace(options, wait_seconds=remaining))
                except TruthScanError as exc:
                    rows[index] = rows[index].model_copy(update={"error": exc.message})
                else:
                    reports[index] = report
            done += 1 + sum(1 for r in rows if r.duplicate_of == inputs[index].value)
            await tick(f"{image.name}: {_verdict_word(reports.get(index), rows[index])}")

        async with anyio.create_task_group() as group:
            for index in unique:
                if index not in skipped and rows[index].error is None:
                    group.start_soon(detect, index)
    finally:
        for image in images:
            if image is not None:
                await image.aclose()

    for index, row in enumerate(rows):
        lead = lead_of.get(index)
        if lead is None or lead in skipped:
            continue
        report = reports.get(lead)
        if report is None:
            if lead != index and rows[lead].error:
                rows[index] = row.model_copy(update={"error": rows[lead].error})
            continue
        rows[index] = row.model_copy(
            update={
                "verdict": report.verdict,
                "ai_score": report.ai_score,
                "confidence_band": report.confidence_band,
                "id": report.id,
                "complete": report.complete,
                "cached": report.cached or lead != index,
                "error": _failure(report),
            }
        )

    credits_spent: int | None = None
    paid = sum(1 for r in reports.values() if not r.cached)
    if credits_before is not None and paid:
        try:
            credits_spent = credits_before - (await detector.client.credits()).credits
        except TruthScanError:
            credits_spent = None
    elif not paid:
        credits_spent = 0
    summary = BatchSummary(
        total=total,
        complete=sum(1 for r in rows if r.complete and r.error is None),
        incomplete=sum(1 for r in rows if not r.complete and r.error is None and r.id),
        errors=sum(1 for r in rows if r.error is not None),
        verdicts=dict(Counter(r.verdict for r in rows if r.verdict and r.error is None)),
        detections_paid=paid,
        credits_spent=credits_spent,
        cached=sum(1 for r in rows if r.cached),
    )
    pending = list(dict.fromkeys(r.id for r in rows if r.id and not r.complete and r.error is None))
    next_step = None
    if pending:
        next_step = (
            f"{len(pending)} images were not finished within the wait. Call get_result with each "
            "pending id (e.g. " + ", ".join(f'"{i}"' for i in pending[:3]) + ") to fetch them; "
            "that costs no credits."
        )
    return BatchResult(
        rows=rows,
        summary=summary,
        simulated=detector.simulated,
        elapsed_seconds=round(anyio.current_time() - started, 3),
        warnings=warnings,
        next_step=next_step,
    )


async def _needs_paying(detector: Detector, image: LoadedImage | None, options: DetectOptions) -> bool:
    if image is None:
        return False
    if options.force or detector.store is None:
        return True
    stored = await detector.store.find(
        image.sha256, deep_analysis=options.deep_analysis, preview=options.preview
    )
    return stored is None


def _failure(report: DetectionReport) -> str | None:
    if report.status == "failed":
        return next(
            (w for w in report.warnings if "could not process" in w), "TruthScan could not process it."
        )
    return None


def _verdict_word(report: DetectionReport | None, row: BatchRow) -> str:
    if report is None:
        return f"error: {row.error}" if row.error else "no result"
    if report.verdict:
        score = f" ({report.ai_score:.0f})" if report.ai_score is not None else ""
        return f"{report.verdict}{score}"
    return f"submitted as {report.id}, not finished"
