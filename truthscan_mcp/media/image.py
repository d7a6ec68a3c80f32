"""The loaded image, and the one reader that counts, hashes and sniffs every image's bytes.

Every source (a local file, a download, inline data) ends here: its bytes pass once through
`ContentDigest` (size, SHA-256, the first bytes for sniffing), `check_content` decides whether
TruthScan would accept them, and a `LoadedImage` describes the result. The same digest checks
a file again when it is re-read for upload, so bytes that changed since validation are never
uploaded as if they were the validated image.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

import anyio

from truthscan_mcp.errors import ImageSizeError, ImageTooSmallError, InvalidInputError, UnsupportedFormatError
from truthscan_mcp.media.formats import (
    MAX_IMAGE_BYTES,
    MIN_IMAGE_BYTES,
    SNIFF_BYTES,
    ImageFormat,
    describe_supported,
    describe_unsupported,
    human_size,
    sniff_format,
)
from truthscan_mcp.models import SourceKind

CHUNK_SIZE = 256 * 1024
_O_EXTRA = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


# --- the one hashing reader -----------------------------------------------------------------


class ContentDigest:
    """What has been read of an image so far: byte count, SHA-256 and its first bytes."""

    def __init__(self) -> None:
        self.size = 0
        self.head = b""
        self._sha256 = hashlib.sha256()

    @classmethod
    def of(cls, content: bytes) -> ContentDigest:
        digest = cls()
        digest.update(content)
        return digest

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self._sha256.update(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


async def read_digest(
    chunks: AsyncIterable[bytes],
    *,
    limit: int = MAX_IMAGE_BYTES,
    on_over_limit: Callable[[int], Exception] | None = None,
    sink: Callable[[bytes], Awaitable[object]] | None = None,
) -> ContentDigest:
    """Read `chunks` into a digest (passing each to `sink`), stopping as soon as `limit` is passed.

    The stream is never read past the first chunk beyond `limit`; the caller sees
    ``size > limit`` then, or `on_over_limit(size)` is raised when given.
    """
    digest = ContentDigest()
    async for chunk in chunks:
        digest.update(chunk)
        if digest.size > limit:
            if on_over_limit is not None:
                raise on_over_limit(digest.size)
            break
        if sink is not None:
            await sink(chunk)
    return digest


async def file_chunks(file: anyio.AsyncFile[bytes], limit: int = MAX_IMAGE_BYTES) -> AsyncIterator[bytes]:
    """A file's bytes in chunks, at most `limit` + 1 of them (enough to tell it is too large)."""
    read = 0
    while read <= limit:
        chunk = await file.read(min(CHUNK_SIZE, limit + 1 - read))
        if not chunk:
            return
        read += len(chunk)
        yield chunk


# --- what TruthScan accepts -------------------------------------------------------------------

_SHRINK_HINT = "Resize or re-compress it (for example as a JPEG) and try again."


def check_content(digest: ContentDigest, what: str, *, declared: str | None = None) -> ImageFormat:
    """The format of bytes TruthScan would accept, or the refusal a person can act on."""
    size, head = digest.size, digest.head
    if size > MAX_IMAGE_BYTES:
        raise too_large(what, size)
    if size == 0:
        raise ImageSizeError(f"{what} is empty (0 bytes). TruthScan needs an image of at least 1 KB.")
    fmt = sniff_format(head)
    if fmt is None:
        raise _unsupported(head, what, declared=declared)
    if size < MIN_IMAGE_BYTES:
        raise ImageTooSmallError(
            f"{what} is only {human_size(size)}; TruthScan needs at least 1 KB ({MIN_IMAGE_BYTES:,} bytes). "
            "An image that small cannot be analysed: use the full-size original."
        )
    return fmt


def too_large(what: str, size: int, *, verb: str = "is") -> ImageSizeError:
    return ImageSizeError(
        f"{what} {verb} {human_size(size)} ({size:,} bytes), but TruthScan accepts at most "
        f"{human_size(MAX_IMAGE_BYTES)} ({MAX_IMAGE_BYTES:,} bytes). {_SHRINK_HINT}"
    )


def over_limit(what: str, detail: str) -> ImageSizeError:
    """For sizes not known exactly, because reading stopped as soon as the limit was passed."""
    return ImageSizeError(
        f"{what} is larger than {human_size(MAX_IMAGE_BYTES)} ({detail}), the most TruthScan accepts "
        f"({MAX_IMAGE_BYTES:,} bytes). {_SHRINK_HINT}"
    )


def _unsupported(head: bytes, what: str, *, declared: str | None = None) -> UnsupportedFormatError:
    looks = describe_unsupported(head)
    if looks == "a GIF image":
        detail = "it is a GIF image, and TruthScan does not accept GIF"
    elif looks == "an HTML page":
        detail = (
            "it is an HTML page, not an image (a link to a page that shows the image, a login "
            "page or an error page? use the address of the image file itself)"
        )
    elif looks is not None:
        detail = f"it looks like {looks}"
    else:
        detail = "its first bytes match none of the image formats TruthScan accepts"
    if declared:
        detail += f" (it was declared as {declared})"
    error = UnsupportedFormatError(
        f"{what} is not a supported image: {detail}. The format is read from the content, not "
        f"from the name. Supported formats: {describe_supported()}; convert it to PNG or JPEG "
        "and try again."
    )
    error.looks = looks
    return error


# --- opening files safely ---------------------------------------------------------------------


def _safe_opener(path: str, flags: int) -> int:
    # O_NONBLOCK: should the path have been swapped for a FIFO since it was vetted, opening
    # it returns at once instead of blocking a worker thread forever. O_NOFOLLOW: the path
    # was fully resolved, so a symlink appearing there now is a swap, not the user's file.
    return os.open(path, flags | _O_EXTRA)


async def open_regular(path: Path, display: str) -> anyio.AsyncFile[bytes]:
    """The vetted file, opened without following a swapped-in symlink or blocking on a FIFO."""
    try:
        file = await anyio.open_file(path, "rb", opener=_safe_opener)
    except OSError as exc:
        raise InvalidInputError(
            f"The file {display} cannot be read ({exc.strerror or exc}). Check that it still exists "
            "and is readable, then try again."
        ) from None
    info = await anyio.to_thread.run_sync(os.fstat, file.wrapped.fileno())
    if not stat.S_ISREG(info.st_mode):
        with anyio.CancelScope(shield=True):
            await file.aclose()
        raise InvalidInputError(f"{display} is no longer a regular file. Pass the path of an image file.")
    return file


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


# --- the loaded image -------------------------------------------------------------------------


@dataclass(eq=False)
class LoadedImage:
    """A validated image, ready to upload, whose bytes are streamed rather than held.

    A URL download lives in a private temp file owned by this object: close it (``aclose``
    or ``async with``) when done. A finalizer removes the file too if that is forgotten.
    """

    kind: SourceKind
    name: str
    upload_name: str
    format: ImageFormat
    size: int
    sha256: str
    path: Path | None = None
    content: bytes | None = None
    #: True when `path` is a temp file this object must delete.
    owns_path: bool = field(default=False, kw_only=True)
    #: custody, recorded when the bytes were read rather than reconstructed later: where they
    #: were read from (the absolute path, or the URL as asked, without its query), the URL they
    #: finally came from after redirects, and when the read finished (UTC)
    location: str | None = field(default=None, kw_only=True)
    final_url: str | None = field(default=None, kw_only=True)
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC), kw_only=True)
    _finalizer: weakref.finalize[[Path], LoadedImage] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if (self.path is None) == (self.content is None):
            raise ValueError("a LoadedImage holds either a path or inline content, not both or neither")
        if self.owns_path and self.path is not None:
            self._finalizer = weakref.finalize(self, remove_quietly, self.path)

    @property
    def media_type(self) -> str:
        return self.format.media_type

    async def iter_chunks(self, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The exact validated bytes, in chunks; may be iterated again (e.g. for a retry).

        A file is re-read rather than cached so that a 10 MB image is never held in memory;
        it is checked against the validated size and hash, so bytes that changed since
        validation are never uploaded as if they were the validated image.
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        if self.content is not None:
            view = memoryview(self.content)
            for start in range(0, len(view), chunk_size):
                yield bytes(view[start : start + chunk_size])
            return
        assert self.path is not None
        digest = ContentDigest()
        file = await open_regular(self.path, self.name)
        try:
            while chunk := await file.read(chunk_size):
                digest.update(chunk)
                if digest.size > self.size:
                    raise self._changed()
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):
                await file.aclose()
        if digest.size != self.size or digest.sha256 != self.sha256:
            raise self._changed()

    async def read_bytes(self) -> bytes:
        """All the bytes at once (at most 10 MB), for consumers that need them whole."""
        if self.content is not None:
            return self.content
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def held(self) -> HeldImage:
        """The same validated image backed by its bytes in memory, and those bytes: read once
        (and checked against the validated hash) for a consumer that needs them whole, such as
        the provenance reader, so the upload then sends exactly those bytes instead of reading
        the file a second time. This object still owns (and on close removes) any temp file."""
        content = await self.read_bytes()
        if self.content is not None:
            return HeldImage(self, content)
        copy = LoadedImage(
            kind=self.kind,
            name=self.name,
            upload_name=self.upload_name,
            format=self.format,
            size=self.size,
            sha256=self.sha256,
            content=content,
            location=self.location,
            final_url=self.final_url,
            read_at=self.read_at,
        )
        return HeldImage(copy, content)

    def _changed(self) -> InvalidInputError:
        return InvalidInputError(
            f"The file {self.name} changed after it was validated (it was {self.size:,} bytes). "
            "Wait until it is completely written, then call the tool again."
        )

    async def aclose(self) -> None:
        finalizer = self._finalizer
        self._finalizer = None
        if finalizer is None or finalizer.detach() is None:
            return
        assert self.path is not None
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(remove_quietly, self.path)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class HeldImage(NamedTuple):
    """A validated image backed by its bytes in memory, and those bytes (see `LoadedImage.held`)."""

    image: LoadedImage
    content: bytes
