"""Many images in one call: validate all, check the credits, detect, summarise.

"Which of these 30 photos are AI-generated?" should cost the assistant one turn, and must not
spend a credit before every input has been checked locally and the account is known to cover
the batch. Identical bytes are detected once (the batch groups them, and the content cache and
the in-process coalescing of `Detector` cover earlier and concurrent calls), one image's
failure is its own row, never the batch's, and on the deadline the finished rows come back
with the ids of the rest. Only what costs (uploads and `/detect`) is bounded by the batch's
concurrency limit; waiting for results is free, so every row waits at once. A 429 pauses every
worker at once: the shared `TruthScanClient` holds all requests until TruthScan's back-off has
passed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

import anyio

from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.detection.detector import Detector
from truthscan_mcp.detection.images import ImageSink
from truthscan_mcp.detection.progress import Progress
from truthscan_mcp.detection.spending import Allowance
from truthscan_mcp.errors import (
    InvalidInputError,
    NotEnoughCreditsError,
    SpendingRefusedError,
    TruthScanError,
)
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.media.inline import load_data
from truthscan_mcp.media.paths import allowed_path
from truthscan_mcp.media.sources import load_image
from truthscan_mcp.models import BatchResult, BatchRow, BatchTotals, DetectionReport
from truthscan_mcp.sanitize import counted, truthscan_says
from truthscan_mcp.settings import SettingHints, Settings

logger = logging.getLogger(__name__)

MAX_BATCH = 100
#: What a directory yields when no pattern is given: the supported image formats.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".webp", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff"}
)
#: Local validation (hashing files, downloading URLs) runs this wide; it spends nothing.
VALIDATION_CONCURRENCY = 8
#: Directory entries looked at before a listing gives up: `directory="~", recursive=true`
#: must answer "narrow it" in a moment, not walk the whole disk.
MAX_SCANNED = 20_000

#: (images done — fractions for those under way —, total, message)
BatchProgress = Callable[[float, int, str], Awaitable[None]]

SKIPPED = "Skipped: the credits left did not cover this image (allow_partial); nothing was spent on it."


@dataclass(frozen=True)
class BatchInput:
    kind: Literal["path", "url", "data"]
    #: the path or URL as given; for `data`, what the row shows as its source (e.g. "-" for stdin)
    value: str
    #: the image itself, base64 or a `data:` URI (kind `data` only: bytes the caller already holds)
    data: str | None = None
    #: already loaded and checked (a page sweep downloads its images to decide what to skip);
    #: the batch then owns and closes it
    image: LoadedImage | None = field(default=None, compare=False)
    #: why it could not be loaded, when that was already tried: its row's error
    error: str | None = None
    #: the page's alt text for it (already cleaned and cut), for a page sweep
    alt: str | None = None


class BatchWatch(Protocol):
    """Hears a batch's rows as they happen, for a caller that shows or streams them (the
    terminal) and must still name every paid detection when the person stops waiting."""

    async def known(self, index: int, document_id: str, *, paid: bool) -> None:
        """Row `index` has a TruthScan id; `paid` when this batch's detection spent a credit."""
        ...

    async def settled(self, index: int, row: BatchRow, report: DetectionReport | None) -> None:
        """Row `index` is final: answered, failed, skipped or handed off unfinished."""
        ...


# --- what the batch is made of ------------------------------------------------------------------


async def expand_inputs(
    settings: Settings,
    *,
    paths: list[str] | None = None,
    directory: str | None = None,
    pattern: str | None = None,
    recursive: bool = False,
    urls: list[str] | None = None,
) -> list[BatchInput]:
    """The batch's inputs in order, refusing an ambiguous or oversized request up front.

    A directory is listed in a worker thread: a large tree must not stall the event loop (and
    with it every other call this server is serving).
    """
    directory = directory if directory and directory.strip() else None
    pattern = pattern if pattern and pattern.strip() else None
    given = [name for name, value in (("paths", paths), ("directory", directory), ("urls", urls)) if value]
    if len(given) != 1:
        raise InvalidInputError(
            "Give exactly one of `paths` (a list of files), `directory` (with an optional glob "
            "`pattern`), `urls` (a list of http/https addresses) or `page` (a web page whose images "
            f"to check); got {' and '.join(given) or 'none'}."
        )
    if pattern and not directory:
        raise InvalidInputError("`pattern` only applies together with `directory`.")
    if paths:
        inputs = [BatchInput("path", p) for p in paths]
    elif urls:
        inputs = [BatchInput("url", u) for u in urls]
    else:
        assert directory is not None
        found = await anyio.to_thread.run_sync(
            _list_directory,
            list(settings.allowed_dirs),
            settings.hints,
            directory,
            pattern,
            recursive,
            abandon_on_cancel=True,
        )
        inputs = [BatchInput("path", str(p)) for p in found]
        if not inputs:
            what = f"matching {pattern!r}" if pattern else "with an image extension"
            raise InvalidInputError(
                f"No files {what} in {directory}{' or below it' if recursive else ''}. Check the "
                "directory and the pattern (e.g. '*.jpg'; add recursive=true for subdirectories)."
            )
    if len(inputs) > MAX_BATCH:
        many = f"more than {MAX_BATCH}" if directory else str(len(inputs))
        raise InvalidInputError(
            f"This batch has {many} images; the limit is {MAX_BATCH} per call. Split it, or narrow "
            "the directory with a pattern."
        )
    return inputs


def check_page_alone(
    *, paths: list[str] | None, directory: str | None, urls: list[str] | None, pattern: str | None
) -> None:
    """`page` is a source of its own: refused together with any other (nothing is fetched)."""
    given = [name for name, value in (("paths", paths), ("directory", directory), ("urls", urls)) if value]
    if given:
        raise InvalidInputError(
            f"Give exactly one source: `page` (a web page whose images to check) or `{given[0]}`, "
            f"not both (got page and {' and '.join(given)})."
        )
    if pattern and pattern.strip():
        raise InvalidInputError("`pattern` only applies together with `directory`, not with `page`.")


def limit_inputs(inputs: list[BatchInput], max_images: int | None, *, directory: bool) -> list[BatchInput]:
    """`max_images` for the listed sources: a directory yields its first `max_images` matches; a
    list longer than `max_images` is refused (the caller named every item, so which to leave out
    is theirs to say)."""
    if max_images is None or len(inputs) <= max_images:
        return inputs
    if directory:
        return inputs[:max_images]
    raise InvalidInputError(
        f"{counted(len(inputs), 'image')} were given but max_images is {max_images}: pass at most "
        f"{max_images}, or raise max_images (up to {MAX_BATCH})."
    )


def _list_directory(
    allowed: list[Path], hints: SettingHints, directory: str, pattern: str | None, recursive: bool
) -> list[Path]:
    """The directory's files, sorted, at most MAX_BATCH + 1 of them; runs in a worker thread.

    The allowed-directories check comes first, before anything reveals whether the path
    exists. The walk never follows a symlinked directory (one could lead out of the allowed
    directories); a symlinked file is listed like any file, and `load_image` refuses it as its
    own row when it resolves outside. Hidden entries are skipped, as a shell glob skips them
    (macOS litters folders with `._photo.jpg` files that are not images).
    """
    checked = allowed_path(directory, allowed, "directory", hints)
    root, real = checked.absolute, checked.resolved
    if not real.exists():
        raise InvalidInputError(
            f"There is no directory at {root}. It must exist on the machine running this server."
        )
    if not real.is_dir():
        raise InvalidInputError(f"{root} is not a directory; pass files as `paths` instead.")
    # A pattern naming subdirectories ('**/*.png', 'raw/*.jpg') is a request to look into them.
    recursive = recursive or bool(pattern and "/" in pattern)
    glob = (pattern or "").replace("**/", "")
    found: list[Path] = []
    scanned = 0
    for current, dirs, files in os.walk(real, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        scanned += len(dirs) + len(files)
        if scanned > MAX_SCANNED:
            raise InvalidInputError(
                f"{root} holds more than {MAX_SCANNED:,} entries{' (recursively)' if recursive else ''}; "
                "point `directory` at the folder with the images, or give a narrower pattern."
            )
        for name in sorted(files):
            if name.startswith(".") and not glob.startswith("."):
                continue
            rel = (Path(current) / name).relative_to(real)
            if glob:
                if not (fnmatch.fnmatch(name, glob) or fnmatch.fnmatch(rel.as_posix(), glob)):
                    continue
            elif Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            found.append(root / rel)
            if len(found) > MAX_BATCH:
                return found
        if not recursive:
            break
    return found


# --- running it ---------------------------------------------------------------------------------


@dataclass
class _Group:
    """One unique image of the batch: its first input (which is detected) and its duplicates."""

    leader: int
    members: list[int]
    image: LoadedImage
    pays: bool = False
    skipped: bool = False


class _Run:
    """The state of one batch: rows, what each image contributes to progress, and the groups."""

    def __init__(
        self,
        detector: Detector,
        inputs: list[BatchInput],
        progress: BatchProgress | None,
        images: ImageSink | None = None,
        watch: BatchWatch | None = None,
    ) -> None:
        self.detector = detector
        self.inputs = inputs
        self.image_sink = images
        self.watch = watch
        self.rows = [BatchRow(source=item.value, name=_display_name(item), alt=item.alt) for item in inputs]
        self.images: list[LoadedImage | None] = [item.image for item in inputs]
        #: how far along each input is, 0..1; their sum is the progress reported
        self.shares = [0.0] * len(inputs)
        self._progress = progress
        self._reported = -1.0

    @property
    def total(self) -> int:
        return len(self.inputs)

    def fail(self, index: int, message: str) -> None:
        self.rows[index] = self.rows[index].model_copy(update={"error": message})
        self.shares[index] = 1.0

    async def settle(self, index: int, report: DetectionReport | None = None) -> None:
        if self.watch is not None:
            try:
                await self.watch.settled(index, self.rows[index], report)
            except Exception:  # a broken watcher must not break a paid batch
                logger.debug("batch watch failed", exc_info=True)

    async def tick(self, message: str) -> None:
        """Progress as images done out of the total, with fractions for the images under way:
        sent only when it grows (MCP requires it), so a long poll still shows movement."""
        done = round(sum(self.shares), 3)
        if done <= self._reported or self._progress is None:
            return
        self._reported = done
        try:
            await self._progress(done, self.total, message)
        except Exception:  # a broken progress sink must not break a paid batch
            logger.debug("batch progress failed", exc_info=True)

    async def validate(self, index: int, limiter: anyio.CapacityLimiter) -> None:
        item = self.inputs[index]
        if item.error is not None:
            self.fail(index, item.error)
            await self.settle(index)
            return
        if item.image is not None:
            return
        async with limiter:
            try:
                if item.kind == "url":
                    image = await load_image(url=item.value, settings=self.detector.settings)
                elif item.kind == "data":
                    image = load_data(item.data or "")
                else:
                    image = await load_image(path=item.value, settings=self.detector.settings)
            except TruthScanError as exc:
                self.fail(index, exc.message)
            except Exception as exc:
                logger.exception("validating batch input %d failed unexpectedly", index)
                self.fail(index, f"Unexpected error while reading it ({type(exc).__name__}).")
            else:
                self.images[index] = image
                if item.kind != "data":
                    self.rows[index] = self.rows[index].model_copy(update={"name": image.name})
                return
        await self.settle(index)

    def groups(self) -> list[_Group]:
        """Identical bytes are detected once: every later input points at the first."""
        by_hash: dict[str, _Group] = {}
        for index, image in enumerate(self.images):
            if image is None:
                continue
            group = by_hash.get(image.sha256)
            if group is None:
                by_hash[image.sha256] = _Group(index, [index], image)
                continue
            group.members.append(index)
            self.rows[index] = self.rows[index].model_copy(
                update={"duplicate_of": self.inputs[group.leader].value}
            )
        return list(by_hash.values())

    async def read_provenance(self, group: _Group, limiter: anyio.CapacityLimiter) -> None:
        """What the bytes declare (free, local), read once per unique image before anything is
        spent, so every row carries it — also rows that end in an error or are never paid for."""
        async with limiter:
            try:
                content = await group.image.read_bytes()
                provenance = await self.detector.provenance_of_content(
                    content, media_type=group.image.media_type
                )
            except TruthScanError as exc:  # the file changed since validation: its detection says so
                logger.info("no provenance for %s: %s", group.image.name, exc.message)
                return
            except Exception:
                logger.exception("reading the provenance of %s failed unexpectedly", group.image.name)
                return
        for member in group.members:
            self.rows[member] = self.rows[member].model_copy(update={"provenance": provenance})

    async def detect(
        self,
        group: _Group,
        options: DetectOptions,
        deadline: float,
        spend: anyio.CapacityLimiter,
        allowance: Allowance | None = None,
    ) -> None:
        image = group.image
        uploading = [False]  # only a detection that is paid uploads

        async def on_progress(progress: Progress) -> None:
            uploading[0] = uploading[0] or progress.phase == "uploading"
            for member in group.members:
                self.shares[member] = min(progress.fraction, 0.999)
            await self.tick(f"{image.name}: {progress.message}")

        remaining = max(0.0, deadline - anyio.current_time())
        report: DetectionReport | None = None
        try:
            report = await self.detector.detect_loaded(
                image,
                replace(options, wait_seconds=remaining, wait_for_heatmap=False),
                progress=on_progress,
                spend=spend,
                images=_Known(self, group, uploading) if self.watch is not None else self.image_sink,
                allowance=allowance,
            )
        except TruthScanError as exc:
            error = exc.message
        except Exception as exc:
            logger.exception("detecting %s failed unexpectedly", image.name)
            error = f"Unexpected error while checking it ({type(exc).__name__}); see the server log."
        else:
            error = _failure(report)
        for member in group.members:
            update: dict[str, object] = {"error": error}
            if report is not None:
                update |= {
                    "verdict": report.verdict,
                    "ai_score": report.ai_score,
                    "tier": report.tier,
                    "confidence_band": report.confidence_band,
                    "id": report.id,
                    "complete": report.complete,
                    "cached": report.cached or member != group.leader,
                }
            self.rows[member] = self.rows[member].model_copy(update=update)
            self.shares[member] = 1.0
            await self.settle(member, report)
        group.pays = report is not None and not report.cached
        await self.tick(f"{image.name}: {_outcome(self.rows[group.leader])}")


@dataclass
class _Known:
    """The image sink of one group while a watcher listens: tells it each row's id as soon as
    TruthScan gave one (a paid detection is named even if the batch is stopped right after),
    then hands the image on to the caller's own sink."""

    run: _Run
    group: _Group
    uploading: list[bool]

    async def keep(self, document_id: str, image: LoadedImage) -> None:
        watch, sink = self.run.watch, self.run.image_sink
        if watch is not None:
            for member in self.group.members:
                try:
                    await watch.known(
                        member, document_id, paid=self.uploading[0] and member == self.group.leader
                    )
                except Exception:
                    logger.debug("batch watch failed", exc_info=True)
        if sink is not None:
            await sink.keep(document_id, image)


@dataclass(frozen=True)
class SpendLimits:
    """What one batch may pay for, besides the credits and the daily cap."""

    #: the caller's own cap (`max_detections`): more refuses the whole batch
    max_detections: int | None = None
    #: what the person agreed to when asked (or what needs no asking): a plan grown past it
    #: since (a URL's bytes changed, a cached result expired) is refused, not paid
    approved: int | None = None


async def run_batch(
    detector: Detector,
    inputs: list[BatchInput],
    *,
    options: DetectOptions,
    allow_partial: bool = False,
    max_concurrency: int = 4,
    progress: BatchProgress | None = None,
    images: ImageSink | None = None,
    watch: BatchWatch | None = None,
    spend: anyio.CapacityLimiter | None = None,
    limits: SpendLimits = SpendLimits(),
) -> BatchResult:
    """Detect every input: validate → plan the payment → detect → summarise.

    Raises only for what concerns the whole batch (no key, credits that cannot cover it, the
    daily cap or `limits` passed), and always before anything was spent. `max_concurrency`
    bounds what costs (uploads and `/detect` submissions); the waiting for results that follows
    is free, so every row waits at once.
    `images` receives each detected image with its document id (the detector calls it).
    `watch` hears each row as it settles and each id as soon as it is known; `spend`, when
    given, is the limit several batches of one run share instead of `max_concurrency`.
    """
    started = anyio.current_time()
    run = _Run(detector, inputs, progress, images, watch)
    groups: list[_Group] = []
    payment = _Payment()
    try:
        groups = await _validate(run)
        payment = await _plan_payment(run, groups, options, allow_partial=allow_partial, limits=limits)
        await _detect_all(
            run,
            groups,
            options,
            deadline=started + options.wait_seconds,
            spend=spend or anyio.CapacityLimiter(max_concurrency),
            allowance=payment.allowance,
        )
    finally:
        await detector.guard.release(payment.allowance)
        for image in run.images:
            if image is not None:
                await image.aclose()
    await run.tick("Done")
    return await _summarise(run, groups, payment, started)


@dataclass(frozen=True)
class Quote:
    """What a batch would pay, worked out before anything is spent (to ask the person first)."""

    #: new detections it would pay for
    to_pay: int
    #: images answered for free: known to the cache, or duplicates of another input
    free: int
    #: the credits left, when they were read
    credits: int | None


async def quote_batch(
    detector: Detector,
    inputs: list[BatchInput],
    *,
    options: DetectOptions,
    allow_partial: bool = False,
    limits: SpendLimits = SpendLimits(),
) -> Quote:
    """Validate the inputs and price the batch, raising exactly what `run_batch` would refuse it
    for (so nobody is asked about a batch that would be refused anyway); spends nothing."""
    run = _Run(detector, inputs, None)
    try:
        groups = await _validate(run)
        to_pay = await _to_pay(run, groups, options)
        free = sum(1 for image in run.images if image is not None) - len(to_pay)
        _check_limits(len(to_pay), free, limits)
        await detector.guard.check(len(to_pay), options.user)
        credits = (await detector.credits()).credits if to_pay else None
        if credits is not None and credits < len(to_pay) and not allow_partial:
            raise _not_enough(len(to_pay), credits, len(groups) - len(to_pay))
    finally:
        for image in run.images:
            if image is not None:
                await image.aclose()
    return Quote(to_pay=len(to_pay), free=free, credits=credits)


@dataclass
class _Payment:
    """What the batch may spend: the credits read before it, its warnings about them, and the
    detections it holds under the daily cap."""

    credits_before: int | None = None
    warnings: list[str] = field(default_factory=list[str])
    allowance: Allowance | None = None


async def _validate(run: _Run) -> list[_Group]:
    """Read and check every input (nothing is spent), then group identical bytes."""
    await run.tick(f"Validating {run.total} images")
    validating = anyio.CapacityLimiter(VALIDATION_CONCURRENCY)
    async with anyio.create_task_group() as tg:
        for index in range(run.total):
            tg.start_soon(run.validate, index, validating)
    groups = run.groups()
    async with anyio.create_task_group() as tg:
        for group in groups:
            tg.start_soon(run.read_provenance, group, validating)
    return groups


async def _to_pay(run: _Run, groups: list[_Group], options: DetectOptions) -> list[_Group]:
    """The real plan: the unique images the cache does not know (duplicates and errors are out)."""
    return [g for g in groups if await run.detector.needs_paying(g.image, options)]


def _check_limits(to_pay: int, free: int, limits: SpendLimits) -> None:
    known = f" ({counted(free, 'more image')} {'is' if free == 1 else 'are'} known and free)" if free else ""
    if limits.max_detections is not None and to_pay > limits.max_detections:
        raise SpendingRefusedError(
            f"This batch would pay for {counted(to_pay, 'new detection')}{known}, more than "
            f"max_detections={limits.max_detections} allows. The whole batch was refused: nothing was "
            "uploaded or spent. Narrow the batch, or call again with a higher max_detections if the "
            "person agrees to spend that many."
        )
    if limits.approved is not None and to_pay > limits.approved:
        raise SpendingRefusedError(
            f"This batch would now pay for {counted(to_pay, 'new detection')}{known}, more than the "
            f"{limits.approved} agreed to (the images changed since). Nothing was uploaded or spent; "
            "call detect_images again to be asked about the new number."
        )


def _not_enough(to_pay: int, credits: int, free: int) -> NotEnoughCreditsError:
    return NotEnoughCreditsError(
        f"This batch has {counted(to_pay, 'new image')} to detect (a credit each) but "
        f"only {counted(max(credits, 0), 'credit')} "
        f"{'is' if credits == 1 else 'are'} left"
        + (f" ({free} more are already known and free)" if free else "")
        + ". Nothing was spent. Add credits, narrow the batch, or call detect_images "
        "again with allow_partial=true to detect as many as the credits cover."
    )


async def _plan_payment(
    run: _Run, groups: list[_Group], options: DetectOptions, *, allow_partial: bool, limits: SpendLimits
) -> _Payment:
    """Check the batch's limits and credits against the images that are new; refuse, or skip
    the rest (allow_partial); then hold what it will pay for under the daily cap."""
    payment = _Payment()
    to_pay = await _to_pay(run, groups, options)
    _check_limits(len(to_pay), sum(1 for i in run.images if i is not None) - len(to_pay), limits)
    guard = run.detector.guard
    await guard.check(len(to_pay), options.user)  # before asking TruthScan for the balance: local and free
    if to_pay:
        credits_before = payment.credits_before = (await run.detector.credits()).credits
        if credits_before < len(to_pay):
            if not allow_partial:
                raise _not_enough(len(to_pay), credits_before, len(groups) - len(to_pay))
            left_out = to_pay[max(credits_before, 0) :]
            for group in left_out:
                group.skipped = True
                for member in group.members:
                    run.fail(member, SKIPPED)
                    await run.settle(member)
            payment.warnings.append(
                f"Only {counted(max(credits_before, 0), 'credit')} "
                f"{'was' if credits_before == 1 else 'were'} left: {counted(len(left_out), 'new image')} "
                f"{'was' if len(left_out) == 1 else 'were'} skipped (allow_partial)."
            )
        payment.allowance = await guard.allow(sum(1 for g in to_pay if not g.skipped), options.user)
    await run.tick(f"Validated {counted(run.total, 'image')}; detecting")
    return payment


async def _detect_all(
    run: _Run,
    groups: list[_Group],
    options: DetectOptions,
    *,
    deadline: float,
    spend: anyio.CapacityLimiter,
    allowance: Allowance | None = None,
) -> None:
    """Every unique image at once; only their uploads and submissions queue for `spend`'s slots."""
    async with anyio.create_task_group() as tg:
        for group in groups:
            if not group.skipped:
                tg.start_soon(run.detect, group, options, deadline, spend, allowance)


async def _summarise(run: _Run, groups: list[_Group], payment: _Payment, started: float) -> BatchResult:
    rows = run.rows
    paid = sum(1 for g in groups if g.pays)
    credits_spent: int | None = 0
    if paid:
        credits_spent = None
        if payment.credits_before is not None:
            with contextlib.suppress(TruthScanError):  # unknown rather than a failed batch
                credits_spent = payment.credits_before - (await run.detector.credits()).credits
    totals = BatchTotals(
        total=run.total,
        complete=sum(1 for r in rows if r.complete and r.error is None),
        incomplete=sum(1 for r in rows if not r.complete and r.error is None),
        errors=sum(1 for r in rows if r.error is not None),
        verdicts=dict(Counter(r.verdict for r in rows if r.verdict and r.error is None)),
        detections_paid=paid,
        credits_spent=credits_spent,
        cached=sum(1 for r in rows if r.cached),
    )
    return BatchResult(
        rows=rows,
        totals=totals,
        simulated=run.detector.simulated,
        elapsed_seconds=round(anyio.current_time() - started, 3),
        warnings=payment.warnings,
        next_step=_next_step(rows),
    )


def _display_name(item: BatchInput) -> str:
    """A file's name (its row says which file even when it could not be read), or the URL."""
    if item.kind == "url" and item.image is not None:
        return item.image.name  # as loaded: the final URL's display form, without its query
    if item.kind == "data":
        return "stdin" if item.value == "-" else item.value
    if item.kind == "url":
        return item.value
    return Path(item.value.strip()).name or item.value


def _failure(report: DetectionReport) -> str | None:
    if report.status == "failed":
        return report.failure_reason or "TruthScan could not process it."
    return None


def _outcome(row: BatchRow) -> str:
    if row.error:
        return f"error: {row.error}"
    if row.verdict:
        score = f" ({row.ai_score:.0f})" if row.ai_score is not None else ""
        return f"{truthscan_says(row.verdict, max_length=80)}{score}" + (
            "" if row.complete else ", analysis pending"
        )
    return f"submitted as {row.id}, not finished" if row.id else "no result"


def _next_step(rows: list[BatchRow]) -> str | None:
    steps: list[str] = []
    pending = list(dict.fromkeys(r.id for r in rows if r.id and not r.complete and r.error is None))
    if pending:
        examples = ", ".join(f'"{i}"' for i in pending[:3])
        steps.append(
            f"{len(pending)} images were not finished within the wait: call get_result with each "
            f"unfinished id (e.g. {examples}) and wait_seconds=30 to fetch them; that costs no credits."
        )
    if any(r.error == SKIPPED for r in rows):
        steps.append(
            "Some images were skipped for lack of credits: add credits, then run detect_images again "
            "(the images already detected are answered from the cache for free)."
        )
    return " ".join(steps) or None
