"""The image on the person's system clipboard (`clipboard: true`).

Pillow's `ImageGrab.grabclipboard` reads the clipboard on macOS (`osascript`, as PNG) and
Windows (the Win32 clipboard: a bitmap, PNG, or the paths of copied files) and returns the
image *opened, not decoded*. On Linux it runs `wl-paste` or `xclip` and then decodes the image
at full size before returning it (Pillow 13: `im.load()`), so a copied 13000×13000 image would
take half a gigabyte before anything could look at its size: there the same commands are run
here (`_linux_clipboard`), the output is capped, and only the header is read. On every platform
the size in pixels is checked against the package's pixel budget (`adapter.pixels`) before
any decode. A bitmap is encoded as PNG (lossless: the pixels TruthScan sees are the pixels that
were copied) and carries no file metadata, which the result says; a copied file is read exactly
as a `path` would be, allowed folders included. Reading the clipboard runs a subprocess or a
native call: always off the event loop.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread

from truthscan_mcp.adapter.pixels import MAX_DECODE_PIXELS, header_size, over_budget
from truthscan_mcp.errors import ClipboardError, ImageSizeError
from truthscan_mcp.media.formats import MAX_IMAGE_BYTES, human_size
from truthscan_mcp.media.image import ContentDigest, LoadedImage, check_content
from truthscan_mcp.media.paths import load_path
from truthscan_mcp.settings import ENVIRONMENT_HINTS, SettingHints

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

#: the most bytes read from a clipboard tool: an uncompressed RGBA bitmap of the pixel budget
MAX_CLIPBOARD_BYTES = 4 * MAX_DECODE_PIXELS
#: seconds a clipboard tool may take to hand the image over
CLIPBOARD_TIMEOUT = 20.0
#: what the Linux tools say on stderr when the clipboard holds no image (Pillow's list)
_NO_IMAGE = (
    b"Nothing is copied",
    b"No selection",
    b"No suitable type of content copied",
    b" not available",
    b"cannot convert ",
    b"xclip: Error: There is no owner for the ",
)

#: what a grabber returns: an opened (not decoded) image, its bytes, a list of paths, or None
Grabber = Callable[[], Any]


def _grab_with_pillow() -> Any:
    from PIL import ImageGrab, UnidentifiedImageError

    if sys.platform not in ("darwin", "win32"):
        return _linux_clipboard()
    try:
        return ImageGrab.grabclipboard()  # opened lazily on these two: nothing decoded yet
    except UnidentifiedImageError:  # something was served as an image that is none (text, say)
        return None


def _linux_command() -> list[str]:
    """The command Pillow's `grabclipboard` runs on Linux (the same choice of tool)."""
    session = "wayland" if os.getenv("WAYLAND_DISPLAY") else "x11" if os.getenv("DISPLAY") else None
    if shutil.which("wl-paste") and session in ("wayland", None):
        return ["wl-paste", "-t", "image"]
    if shutil.which("xclip") and session in ("x11", None):
        return ["xclip", "-selection", "clipboard", "-t", "image/png", "-o"]
    raise NotImplementedError("wl-paste or xclip is required to read the clipboard on Linux")


def _linux_clipboard() -> bytes | None:
    """The image bytes `wl-paste` or `xclip` hand over (at most MAX_CLIPBOARD_BYTES), or None."""
    command = _linux_command()
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as tool:
        assert tool.stdout is not None
        assert tool.stderr is not None
        try:
            data = tool.stdout.read(MAX_CLIPBOARD_BYTES + 1)
            if len(data) > MAX_CLIPBOARD_BYTES:
                raise ImageSizeError(
                    f"The image on the clipboard is more than {human_size(MAX_CLIPBOARD_BYTES)}: too "
                    "large to read here. Copy a smaller image, or pass the original file as a path."
                )
            err = tool.stderr.read(64 * 1024)
            code = tool.wait(CLIPBOARD_TIMEOUT)
        finally:
            if tool.poll() is None:
                tool.kill()
    if code != 0:
        if any(quiet in err for quiet in _NO_IMAGE):
            return None
        raise ChildProcessError(f"{command[0]} error: {err.strip().decode(errors='replace')}")
    return data or None


def _read_clipboard(grab: Grabber) -> bytes | list[str] | None:
    """The clipboard as PNG bytes, a list of file paths, or None. Blocking."""
    from PIL import Image

    try:
        content = grab()
    except NotImplementedError as exc:  # Linux without wl-paste or xclip
        logger.debug("no clipboard tool: %s", exc)
        raise ClipboardError(NO_TOOL_HINT) from None
    except Image.DecompressionBombError:  # Pillow's own refusal, far beyond our budget
        raise ImageSizeError(_too_large("The image on the clipboard is")) from None
    except (ChildProcessError, OSError, subprocess.TimeoutExpired) as exc:
        # e.g. xclip with no display to talk to: say what happened, then what to do
        raise ClipboardError(
            f"The clipboard could not be read ({str(exc)[:200]}). Is a desktop session running? "
            "Copy the image again, or pass it as a path instead."
        ) from None
    if content is None:
        return None
    if isinstance(content, list):
        return [str(item) for item in content]  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    if isinstance(content, bytes):
        content = _open_within_budget(content)
        if content is None:
            return None
    else:
        _check_budget(*content.size)
    return _as_png(content)


def _too_large(what: str) -> str:
    return (
        f"{what} too large to decode here (the limit is {MAX_DECODE_PIXELS // 1_000_000} megapixels). "
        "Copy a smaller image (or a scaled-down copy), or pass the original file as a path."
    )


def _check_budget(width: int, height: int) -> None:
    """Refuses, before any decode, an image over the package's pixel budget."""
    refusal = over_budget("The image on the clipboard", width, height)
    if refusal is not None:
        raise ImageSizeError(
            f"{refusal} Copy a smaller image (or a scaled-down copy), or pass the original file as a path."
        )


def _open_within_budget(data: bytes) -> Any:
    """Bytes from a clipboard tool, opened once their header says they fit the budget."""
    from PIL import Image, UnidentifiedImageError

    try:
        size = header_size(data)
    except Image.DecompressionBombError:  # Pillow's own refusal, far beyond our budget
        raise ImageSizeError(_too_large("The image on the clipboard is")) from None
    if size is None:  # not one of the formats we read: no image for us
        return None
    _check_budget(*size)
    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        return None


def _as_png(image: Any) -> bytes:
    out = io.BytesIO()
    if image.mode not in ("RGB", "RGBA", "L", "LA", "I;16", "P"):
        image = image.convert("RGBA")
    image.save(out, "PNG")
    return out.getvalue()


async def load_clipboard(
    allowed: Sequence[Path], hints: SettingHints = ENVIRONMENT_HINTS, *, grab: Grabber = _grab_with_pillow
) -> LoadedImage:
    """The image on the clipboard, validated like any other source, with `kind` "clipboard"."""
    content = await anyio.to_thread.run_sync(_read_clipboard, grab)
    if content is None:
        raise ClipboardError(EMPTY_HINT)
    if isinstance(content, list):
        return await _copied_file(content, allowed, hints)
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


async def _copied_file(paths: list[str], allowed: Sequence[Path], hints: SettingHints) -> LoadedImage:
    """A file copied in a file manager: read as a `path` (allowed folders included)."""
    if not paths:
        raise ClipboardError(EMPTY_HINT)
    if len(paths) > 1:
        logger.info("%d files on the clipboard: checking the first", len(paths))
    loaded = await load_path(paths[0], allowed, hints)
    return dataclasses.replace(loaded, kind="clipboard")


def is_clipboard_bitmap(kind: str, name: str | None) -> bool:
    """True for a source that was copied pixels (not a copied file): its metadata is gone."""
    return kind == "clipboard" and name == CLIPBOARD_IMAGE_NAME
