"""A page sweep: every image a web page shows, turned into the inputs of one batch.

"Are any of the images in this article AI-generated?" — the assistant usually cannot see the
image URLs, so the server lists them itself: the page's HTML through the URL guard, its images
in page order (`media.html_images`), then each image downloaded (free) and checked locally.
What TruthScan cannot read (SVG, GIF) and what is too small to judge (tracking pixels, icons)
is listed in `skipped` with the reason instead of being paid for, and at most `max_images`
distinct images go on to be detected. Images are downloaded a window at a time, in page order,
so a page naming 500 images costs the downloads of the first `max_images` that qualify, not 500.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import anyio

from truthscan_mcp.detection.batch import MAX_BATCH, VALIDATION_CONCURRENCY, BatchInput
from truthscan_mcp.errors import ImageTooSmallError, InvalidInputError, TruthScanError, UnsupportedFormatError
from truthscan_mcp.media.formats import human_size
from truthscan_mcp.media.html_images import PageImage, PageImages, find_images
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.media.inline import load_data
from truthscan_mcp.media.page import fetch_page
from truthscan_mcp.media.sources import load_image
from truthscan_mcp.models import SkippedImage
from truthscan_mcp.sanitize import counted
from truthscan_mcp.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_PAGE_IMAGES = 20
TOO_SMALL = "under 1 KB (a tracking pixel or an icon): too small for TruthScan to judge"
#: inline images whose declared type TruthScan cannot read, skipped without decoding them
_UNREADABLE_TYPES = {"image/svg+xml": "an SVG image", "image/gif": "a GIF image"}


def max_images_reason(limit: int) -> str:
    return (
        f"max_images: only the first {counted(limit, 'image')} of the page were detected; "
        "call again with a larger max_images (up to 100) to include it"
    )


@dataclass
class PageSweep:
    """What a page sweep hands the batch, and what it tells the caller besides the rows."""

    page_url: str
    page_title: str | None
    inputs: list[BatchInput] = field(default_factory=list[BatchInput])
    skipped: list[SkippedImage] = field(default_factory=list[SkippedImage])

    async def aclose(self) -> None:
        for item in self.inputs:
            if item.image is not None:
                await item.image.aclose()


@dataclass(frozen=True)
class _Loaded:
    image: LoadedImage | None = None
    skip: str | None = None
    error: str | None = None


async def sweep_page(settings: Settings, page: str, *, max_images: int, timeout: float = 30.0) -> PageSweep:
    """The page's images as batch inputs (each loaded, or failed as its own row) plus `skipped`.

    Raises (spending nothing) when the page cannot be fetched, is not HTML, or shows no image
    TruthScan could check.
    """
    fetched = await fetch_page(
        page,
        allow_private=settings.allow_private_urls,
        timeout=timeout,
        private_hint=settings.hints.private_urls_hint(),
    )
    found: PageImages = await anyio.to_thread.run_sync(find_images, fetched.html, fetched.url)
    if not found.images:
        raise InvalidInputError(
            f"The page {fetched.display} shows no image in its HTML (no img, picture, og:image, "
            "twitter:image, image_src or video poster). Its images may be drawn by JavaScript after "
            "loading: pass the images' own addresses as `urls` instead. Nothing was spent."
        )
    sweep = PageSweep(page_url=fetched.display, page_title=found.title)
    try:
        await _collect(sweep, found.images, settings, max_images, timeout)
    except BaseException:
        await sweep.aclose()
        raise
    if not any(item.image is not None or item.error is not None for item in sweep.inputs):
        reasons = sorted({s.reason.split(":")[0] for s in sweep.skipped})
        raise InvalidInputError(
            f"The page {fetched.display} shows {counted(len(sweep.skipped), 'image')}, but none TruthScan "
            f"can check ({'; '.join(reasons)}). Nothing was spent."
        )
    return sweep


async def _collect(
    sweep: PageSweep, images: list[PageImage], settings: Settings, max_images: int, timeout: float
) -> None:
    """Load images in page order, a window at a time, until `max_images` distinct ones qualify."""
    hashes: set[str] = set()
    position = 0
    while position < len(images) and len(hashes) < max_images and len(sweep.inputs) < MAX_BATCH:
        window = images[position : position + max(1, max_images - len(hashes))]
        position += len(window)
        loaded = await _load_window(window, settings, timeout)
        for image, outcome in zip(window, loaded, strict=True):
            source = _source_of(image)
            if outcome.skip is not None:
                sweep.skipped.append(SkippedImage(source=source, reason=outcome.skip))
                continue
            full = len(hashes) >= max_images or len(sweep.inputs) >= MAX_BATCH
            if outcome.image is not None and (full and outcome.image.sha256 not in hashes):
                await outcome.image.aclose()
                sweep.skipped.append(SkippedImage(source=source, reason=max_images_reason(max_images)))
                continue
            if outcome.image is not None:
                hashes.add(outcome.image.sha256)
            sweep.inputs.append(
                BatchInput(
                    "data" if image.url.startswith("data:") else "url",
                    source,
                    image=outcome.image,
                    error=outcome.error,
                    alt=image.alt,
                )
            )
    for image in images[position:]:
        sweep.skipped.append(SkippedImage(source=_source_of(image), reason=max_images_reason(max_images)))


async def _load_window(window: list[PageImage], settings: Settings, timeout: float) -> list[_Loaded]:
    """The window's images loaded at once (downloads are free), in the window's order."""
    loaded: list[_Loaded] = [_Loaded()] * len(window)
    limiter = anyio.CapacityLimiter(VALIDATION_CONCURRENCY)

    async def load(index: int, image: PageImage) -> None:
        async with limiter:
            loaded[index] = await _load(image, settings, timeout)

    async with anyio.create_task_group() as tg:
        for index, image in enumerate(window):
            tg.start_soon(load, index, image)
    return loaded


async def _load(image: PageImage, settings: Settings, timeout: float) -> _Loaded:
    """One image: loaded, skipped (too small, unreadable format) or failed (its row's error)."""
    try:
        if image.url.startswith("data:"):
            declared = image.url[5:].split(",", 1)[0].split(";", 1)[0].strip().lower()
            if declared in _UNREADABLE_TYPES:
                return _Loaded(skip=_unreadable(_UNREADABLE_TYPES[declared]))
            return _Loaded(image=await anyio.to_thread.run_sync(functools.partial(load_data, image.url)))
        return _Loaded(image=await load_image(url=image.url, settings=settings, http_timeout=timeout))
    except ImageTooSmallError:
        return _Loaded(skip=TOO_SMALL)
    except UnsupportedFormatError as exc:
        return _Loaded(skip=_unreadable(exc.looks))
    except InvalidInputError as exc:
        if image.url.startswith("data:"):  # not base64, broken: nothing to fetch again, nothing to pay
            return _Loaded(skip=f"inline data TruthScan cannot read: {exc.message}")
        return _Loaded(error=exc.message)
    except TruthScanError as exc:
        return _Loaded(error=exc.message)
    except Exception as exc:
        logger.exception("loading a page image failed unexpectedly")
        return _Loaded(error=f"Unexpected error while reading it ({type(exc).__name__}).")


def _unreadable(looks: str | None) -> str:
    what = looks or "not an image"
    return f"{what}: a format TruthScan cannot read (it accepts JPEG, PNG, WebP, HEIC/HEIF, AVIF, BMP, TIFF)"


def _source_of(image: PageImage) -> str:
    """The image URL, or for an inline `data:` image a short label (the URI itself can be
    megabytes long)."""
    if not image.url.startswith("data:"):
        return image.url
    header = image.url[5:].split(",", 1)[0][:60]
    return f"data:{header},… (inline, {human_size(len(image.url))} of text)"
