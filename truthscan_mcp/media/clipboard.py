"""The image on the person's system clipboard (`clipboard: true`).

Pillow's `ImageGrab.grabclipboard` already reads the clipboard on every platform this server
runs on (macOS through AppKit, Windows through the Win32 clipboard, Linux through `wl-paste`
or `xclip`), so there is no platform code here: it returns copied image data (a bitmap) or,
where the system copies files as files, a list of paths. A bitmap is encoded as PNG (lossless:
the pixels TruthScan sees are the pixels that were copied) and carries no file metadata,
which the result says; a copied file is read exactly as a `path` would be, allowed folders
included. Reading the clipboard runs a subprocess or a native call: always off the event loop.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread

from truthscan_mcp.errors import ClipboardError, ImageSizeError
from truthscan_mcp.media.formats import MAX_IMAGE_BYTES, human_size
from truthscan_mcp.media.image import ContentDigest, LoadedImage, check_content
from truthscan_mcp.media.paths import load_path
from truthscan_mcp.settings import ENVIRONMENT_KNOBS, Knobs

logger = logging.getLogger(__name__)

#: the name a copied bitmap is shown under (it has no file name)
CLIPBOARD_IMAGE_NAME = "clipboard image"
#: said with every result whose pixels came from a copied bitmap
BITMAP_NOTE = (
    "The pixels came from the clipboard as a bitmap: a bitmap carries no file metadata "
    "(no EXIF, XMP or C2PA), so nothing can be read about where the image came from. "
    "For provenance, check the original file (its path or URL) instead."
)
EMPTY_HINT = (
    "The clipboard holds no image: copy the image first (right-click → Copy Image), "
    "then call the tool again with clipboard: true."
)
NO_TOOL_HINT = (
    "This system has no clipboard tool for reading images: install wl-clipboard (Wayland) or "
    "xclip (X11), e.g. `sudo apt install wl-clipboard xclip`, or pass the image as a path instead."
)

#: what `ImageGrab.grabclipboard` returns: an image, a list of file paths, or None
Grabber = Callable[[], Any]


def _grab_with_pillow() -> Any:
    from PIL import ImageGrab, UnidentifiedImageError

    try:
        return ImageGrab.grabclipboard()
    except UnidentifiedImageError:  # something was served as an image that is none (text, say)
        return None


def _read_clipboard(grab: Grabber) -> bytes | list[str] | None:
    """The clipboard as PNG bytes, a list of file paths, or None. Blocking."""
    try:
        content = grab()
    except NotImplementedError as exc:  # Linux without wl-paste or xclip
        logger.debug("no clipboard tool: %s", exc)
        raise ClipboardError(NO_TOOL_HINT) from None
    except (ChildProcessError, OSError) as exc:
        # e.g. xclip with no display to talk to: say what happened, then what to do
        raise ClipboardError(
            f"The clipboard could not be read ({str(exc)[:200]}). Is a desktop session running? "
            "Copy the image again, or pass it as a path instead."
        ) from None
    if content is None:
        return None
    if isinstance(content, list):
        return [str(item) for item in content]  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    return _as_png(content)


def _as_png(image: Any) -> bytes:
    out = io.BytesIO()
    if image.mode not in ("RGB", "RGBA", "L", "LA", "I;16", "P"):
        image = image.convert("RGBA")
    image.save(out, "PNG")
    return out.getvalue()


async def load_clipboard(
    allowed: Sequence[Path], knobs: Knobs = ENVIRONMENT_KNOBS, *, grab: Grabber = _grab_with_pillow
) -> LoadedImage:
    """The image on the clipboard, validated like any other source, with `kind` "clipboard"."""
    content = await anyio.to_thread.run_sync(_read_clipboard, grab)
    if content is None:
        raise ClipboardError(EMPTY_HINT)
    if isinstance(content, list):
        return await _copied_file(content, allowed, knobs)
    what = "The image on the clipboard"
    if len(content) > MAX_IMAGE_BYTES:
        raise ImageSizeError(
            f"{what} is {human_size(len(content))} as a PNG, more than the "
            f"{human_size(MAX_IMAGE_BYTES)} TruthScan accepts. Copy a smaller image, or pass the "
            "original file as a path (a JPEG is much smaller than the copied pixels)."
        )
    digest = ContentDigest.of(content)
    fmt = check_content(digest, what)
    return LoadedImage(
        kind="clipboard",
        name=CLIPBOARD_IMAGE_NAME,
        upload_name="clipboard.png",
        format=fmt,
        size=len(content),
        sha256=digest.sha256,
        content=content,
    )


async def _copied_file(paths: list[str], allowed: Sequence[Path], knobs: Knobs) -> LoadedImage:
    """A file copied in a file manager: read as a `path` (allowed folders included)."""
    if not paths:
        raise ClipboardError(EMPTY_HINT)
    if len(paths) > 1:
        logger.info("%d files on the clipboard: checking the first", len(paths))
    loaded = await load_path(paths[0], allowed, knobs)
    return dataclasses.replace(loaded, kind="clipboard")


def is_clipboard_bitmap(kind: str, name: str | None) -> bool:
    """True for a source that was copied pixels (not a copied file): its metadata is gone."""
    return kind == "clipboard" and name == CLIPBOARD_IMAGE_NAME
