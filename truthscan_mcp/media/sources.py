"""Turning a user's image argument (a path, a URL or inline data) into validated bytes.

Everything here runs before a single credit is spent, and most of what it refuses is refused
for a reason the person can fix; so every refusal says what happened and what to do. The
inputs come from an AI assistant acting on instructions it may have read anywhere, which is
why local paths are confined to allowed directories and URLs to public addresses.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import stat
import tempfile
import urllib.parse
import urllib.request
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal, NamedTuple, Self

import anyio
import httpx2

from truthscan_mcp import __version__
from truthscan_mcp.errors import (
    ImageSizeError,
    InvalidInputError,
    SourceFetchError,
    SourceNotAllowedError,
    UnsupportedFormatError,
)
from truthscan_mcp.media.formats import (
    MAX_IMAGE_BYTES,
    MIN_IMAGE_BYTES,
    SNIFF_BYTES,
    ImageFormat,
    describe_supported,
    describe_unsupported,
    human_size,
    sanitize_upload_name,
    sniff_format,
)
from truthscan_mcp.media.netguard import guarded_client
from truthscan_mcp.settings import Settings

SourceKind = Literal["path", "url", "data"]

CHUNK_SIZE = 256 * 1024
MAX_REDIRECTS = 5
MAX_URL_LENGTH = 8192
#: The longest `data` string looked at: base64 of MAX_IMAGE_BYTES, 5 % for line breaks and
#: room for a ``data:`` header. Anything longer is refused before a byte is decoded.
MAX_DATA_CHARS = (MAX_IMAGE_BYTES + 2) // 3 * 4 * 21 // 20 + 4096
INLINE_NAME = "inline data"

_DOWNLOAD_CHUNK = 64 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_O_EXTRA = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


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
    _finalizer: weakref.finalize[[Path], LoadedImage] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if (self.path is None) == (self.content is None):
            raise ValueError("a LoadedImage holds either a path or inline content, not both or neither")
        if self.owns_path and self.path is not None:
            self._finalizer = weakref.finalize(self, _remove_quietly, self.path)

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
        digest = hashlib.sha256()
        total = 0
        file = await _open_regular(self.path, self.name)
        try:
            while chunk := await file.read(chunk_size):
                total += len(chunk)
                if total > self.size:
                    raise self._changed()
                digest.update(chunk)
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):
                await file.aclose()
        if total != self.size or digest.hexdigest() != self.sha256:
            raise self._changed()

    async def read_bytes(self) -> bytes:
        """All the bytes at once (at most 10 MB), for consumers that need them whole."""
        if self.content is not None:
            return self.content
        return b"".join([chunk async for chunk in self.iter_chunks()])

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
            await anyio.to_thread.run_sync(_remove_quietly, self.path)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


# --- entry point ------------------------------------------------------------------------------


async def load_image(
    *,
    path: str | None = None,
    url: str | None = None,
    data: str | None = None,
    settings: Settings,
    http_timeout: float = 30.0,
) -> LoadedImage:
    """Validate exactly one image source and return its bytes' description.

    A blank string counts as "not given": some MCP clients send every optional argument,
    filling the unused ones with "".
    """
    given: list[tuple[str, str]] = []
    for key, value in (("path", path), ("url", url), ("data", data)):
        if value is not None and not _blank(value):
            given.append((key, value))
    if not given:
        raise InvalidInputError(
            "No image was given. Pass exactly one of `path` (a local file path or file:// URI), "
            "`url` (an http or https address) or `data` (base64, or a data:image/...;base64, URI)."
        )
    if len(given) > 1:
        names = " and ".join(f"`{key}`" for key, _ in given)
        raise InvalidInputError(
            f"Several image sources were given ({names}); pass exactly one of `path`, `url` or `data`."
        )
    key, value = given[0]
    if key == "path":
        return await _load_path(value, settings)
    if key == "url":
        if http_timeout <= 0:
            raise ValueError("http_timeout must be positive")
        return await _load_url(value, settings, http_timeout)
    return _load_data(value)


def _blank(value: str) -> bool:
    # isspace() stops at the first non-space character: no copy of a huge `data` string.
    return value == "" or value.isspace()


# --- content checks shared by every source -------------------------------------------------------


def _check_content(head: bytes, size: int, what: str, *, declared: str | None = None) -> ImageFormat:
    if size > MAX_IMAGE_BYTES:
        raise _too_large(what, size)
    if size == 0:
        raise ImageSizeError(f"{what} is empty (0 bytes). TruthScan needs an image of at least 1 KB.")
    fmt = sniff_format(head)
    if fmt is None:
        raise _unsupported(head, what, declared=declared)
    if size < MIN_IMAGE_BYTES:
        raise ImageSizeError(
            f"{what} is only {human_size(size)}; TruthScan needs at least 1 KB ({MIN_IMAGE_BYTES:,} bytes). "
            "An image that small cannot be analysed: use the full-size original."
        )
    return fmt


def _too_large(what: str, size: int, *, verb: str = "is") -> ImageSizeError:
    return ImageSizeError(
        f"{what} {verb} {human_size(size)} ({size:,} bytes), but TruthScan accepts at most "
        f"{human_size(MAX_IMAGE_BYTES)} ({MAX_IMAGE_BYTES:,} bytes). {_SHRINK_HINT}"
    )


def _over_limit(what: str, detail: str) -> ImageSizeError:
    """For sizes not known exactly, because reading stopped as soon as the limit was passed."""
    return ImageSizeError(
        f"{what} is larger than {human_size(MAX_IMAGE_BYTES)} ({detail}), the most TruthScan accepts "
        f"({MAX_IMAGE_BYTES:,} bytes). {_SHRINK_HINT}"
    )


_SHRINK_HINT = "Resize or re-compress it (for example as a JPEG) and try again."


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
    return UnsupportedFormatError(
        f"{what} is not a supported image: {detail}. The format is read from the content, not "
        f"from the name. Supported formats: {describe_supported()}; convert it to PNG or JPEG "
        "and try again."
    )


# --- path ---------------------------------------------------------------------------------------


class _Located(NamedTuple):
    resolved: Path
    display: str
    name: str
    size: int


async def _load_path(raw: str, settings: Settings) -> LoadedImage:
    located = await anyio.to_thread.run_sync(_locate, raw, list(settings.allowed_dirs))
    what = f"The file {located.display}"
    if located.size > MAX_IMAGE_BYTES:
        raise _too_large(what, located.size)
    file = await _open_regular(located.resolved, located.display)
    try:
        head, size, sha256 = await _read_and_hash(file, MAX_IMAGE_BYTES)
    finally:
        with anyio.CancelScope(shield=True):
            await file.aclose()
    if size > MAX_IMAGE_BYTES:
        raise _over_limit(what, "it grew while it was being read")
    if size != located.size:
        raise InvalidInputError(
            f"{what} changed while it was being read ({located.size:,} bytes, then {size:,}). "
            "Wait until it is completely written, then try again."
        )
    fmt = _check_content(head, size, what)
    return LoadedImage(
        kind="path",
        name=located.name,
        upload_name=sanitize_upload_name(located.name, fmt),
        format=fmt,
        size=size,
        sha256=sha256,
        path=located.resolved,
    )


def _locate(raw: str, allowed: list[Path]) -> _Located:
    """Resolve and vet a user path; runs in a worker thread (it touches the file system).

    Order matters: the allowed-directories check comes before anything that would reveal
    whether a file exists, and the file type is read with stat() — never by opening it —
    because opening a FIFO blocks until a writer appears.
    """
    given, relative = _to_path(raw)
    try:
        absolute = given if given.is_absolute() else Path.cwd() / given
        resolved = Path(os.path.realpath(absolute))
        roots = [Path(os.path.realpath(root)) for root in allowed]
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"The path {raw.strip()!r} cannot be used: {exc}.") from None
    display = str(absolute)
    if not any(resolved.is_relative_to(root) for root in roots):
        listed = ", ".join(str(root) for root in roots) or "none"
        escape = (
            "" if resolved == Path(os.path.normpath(absolute)) else " (after following symlinks and '..')"
        )
        if relative:
            escape += f" (a relative path is resolved against this server's working directory, {Path.cwd()})"
        raise SourceNotAllowedError(
            f"The file {display} is outside the directories this server may read{escape}. "
            f"Allowed directories: {listed}. Copy the image into one of them, or set "
            f"TRUTHSCAN_ALLOWED_DIRS (a list separated by {os.pathsep!r}) to add one."
        )
    try:
        info = os.stat(resolved)
    except FileNotFoundError:
        hint = (
            f" A relative path is resolved against this server's working directory ({Path.cwd()}); "
            "pass an absolute path instead."
            if relative
            else ""
        )
        raise InvalidInputError(
            f"There is no file at {display}.{hint} The file must exist on the machine running this "
            "MCP server; otherwise pass the image as `url` or `data`."
        ) from None
    except PermissionError:
        raise InvalidInputError(
            f"The file {display} cannot be read: permission denied. Make it readable by the user "
            "running this server, or pass the image as `data`."
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"The file {display} cannot be read: {exc}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(f"{display} is a directory, not a file. Pass the path of one image file.")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(
            f"{display} is not a regular file (it is a {_file_kind(info.st_mode)}). "
            "Pass the path of an image file."
        )
    return _Located(resolved, display, absolute.name or resolved.name, info.st_size)


def _to_path(raw: str) -> tuple[Path, bool]:
    """The path a `path` argument names (file:// decoded, ~ expanded), and whether it is relative."""
    text = raw.strip()
    if text[:5].lower() == "file:":
        parts = urllib.parse.urlsplit(text)
        if parts.netloc.lower() not in ("", "localhost"):
            raise SourceNotAllowedError(
                f"The file URI names another host ({parts.netloc!r}); only local files can be read "
                "(file:///path or file://localhost/path). For a remote image pass an http(s) `url`."
            )
        local = urllib.request.url2pathname(parts.path)
        if not local:
            raise InvalidInputError("The file:// URI has no path. Pass it as file:///absolute/path.")
        text = local
    if "\x00" in text:
        raise InvalidInputError("The path contains a NUL character, which no file name can contain.")
    try:
        path = Path(text).expanduser()
    except RuntimeError as exc:  # "~someone" for an unknown user, or no home directory
        raise InvalidInputError(f"Cannot expand '~' in {text!r} ({exc}). Pass an absolute path.") from None
    return path, not path.is_absolute()


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO / named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _safe_opener(path: str, flags: int) -> int:
    # O_NONBLOCK: should the path have been swapped for a FIFO since it was vetted, opening
    # it returns at once instead of blocking a worker thread forever. O_NOFOLLOW: the path
    # was fully resolved, so a symlink appearing there now is a swap, not the user's file.
    return os.open(path, flags | _O_EXTRA)


async def _open_regular(path: Path, display: str) -> anyio.AsyncFile[bytes]:
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


async def _read_and_hash(file: anyio.AsyncFile[bytes], limit: int) -> tuple[bytes, int, str]:
    """(first SNIFF_BYTES, byte count, sha256) reading at most limit + 1 bytes."""
    digest = hashlib.sha256()
    head = b""
    total = 0
    while total <= limit:
        chunk = await file.read(min(CHUNK_SIZE, limit + 1 - total))
        if not chunk:
            break
        total += len(chunk)
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        digest.update(chunk)
    return head, total, digest.hexdigest()


# --- data ---------------------------------------------------------------------------------------


def _load_data(raw: str) -> LoadedImage:
    what = "The inline `data`"
    if len(raw) > MAX_DATA_CHARS:
        # Decoding would cost time and memory for nothing: base64 carries 3 bytes per 4 chars.
        raise ImageSizeError(
            f"{what} is {len(raw):,} characters long, so the decoded image would exceed "
            f"{human_size(MAX_IMAGE_BYTES)} ({MAX_IMAGE_BYTES:,} bytes), the most TruthScan accepts. "
            "Resize or re-compress the image and try again."
        )
    text = raw.strip()
    declared: str | None = None
    upload_name = "image"
    if text[:5].lower() == "data:":
        header, comma, payload = text[5:].partition(",")
        if not comma:
            raise InvalidInputError(
                "The data: URI has no ',' separating its header from the payload; expected "
                "data:image/png;base64,<base64 bytes>."
            )
        params = [part.strip() for part in header.split(";")]
        if "base64" not in (part.lower() for part in params[1:]):
            raise InvalidInputError(
                "Only base64 data: URIs are accepted (data:image/png;base64,<base64 bytes>); "
                "this one is not marked ;base64."
            )
        declared = params[0].lower() or None
        for part in params[1:]:
            key, eq, value = part.partition("=")
            if eq and key.strip().lower() in ("name", "filename") and value.strip():
                upload_name = urllib.parse.unquote(value.strip().strip('"'))
        text = payload
    elif text[:8].lower() in ("http://", "https://") or text[:5].lower() == "file:":
        raise InvalidInputError(
            "The `data` argument looks like a URL or file URI: pass it as `url` (http/https) or "
            "`path` (file://) instead. `data` takes base64 image bytes."
        )
    content = _decode_base64(text, what)
    fmt = _check_content(content[:SNIFF_BYTES], len(content), what, declared=_if_not_image(declared))
    return LoadedImage(
        kind="data",
        name=INLINE_NAME,
        upload_name=sanitize_upload_name(upload_name, fmt),
        format=fmt,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
    )


def _if_not_image(declared: str | None) -> str | None:
    # A declared image/* type is irrelevant when the bytes disagree: the sniffed format wins,
    # and saying "declared image/png" would only confuse. A declared non-image type explains
    # the refusal, so it is worth mentioning.
    if declared is None or declared.startswith("image/") or declared == "application/octet-stream":
        return None
    return declared


_WHITESPACE = re.compile(r"\s+")


def _decode_base64(text: str, what: str) -> bytes:
    """Strict base64: standard or URL-safe alphabet, padding optional but never wrong."""
    compact = _WHITESPACE.sub("", text)
    bad = InvalidInputError(
        f"{what} is not valid base64. Pass the image bytes base64-encoded (optionally as "
        "data:image/png;base64,<base64>), or pass the image as `path` or `url` instead."
    )
    if not compact:
        raise ImageSizeError(f"{what} is empty. Pass the image bytes base64-encoded.")
    if not compact.isascii():
        raise bad
    if "-" in compact or "_" in compact:
        if "+" in compact or "/" in compact:
            raise bad  # a mix of both alphabets is corruption, not a variant
        compact = compact.translate(_URLSAFE_TO_STANDARD)
    unpadded = compact.rstrip("=")
    padding = len(compact) - len(unpadded)
    if padding > 2 or (padding and len(compact) % 4) or len(unpadded) % 4 == 1:
        raise bad
    decoded_size = len(unpadded) * 3 // 4
    if decoded_size > MAX_IMAGE_BYTES:
        raise _too_large(what, decoded_size, verb="would decode to")
    if not padding and len(unpadded) % 4:
        compact = unpadded + "=" * (-len(unpadded) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise bad from None


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


# --- url ----------------------------------------------------------------------------------------


async def _load_url(raw: str, settings: Settings, timeout: float) -> LoadedImage:
    url = _parse_url(raw)
    display = display_url(url)
    headers = {
        "User-Agent": f"truthscan-mcp/{__version__}",
        "Accept": "image/*,*/*;q=0.5",
        # Compressed transfer would let a small response inflate past the size cap before
        # it could be counted; images are already compressed anyway.
        "Accept-Encoding": "identity",
    }
    image: LoadedImage | None = None
    try:
        with anyio.fail_after(timeout):
            async with guarded_client(
                allow_private=settings.allow_private_urls, timeout=timeout, headers=headers
            ) as client:
                image = await _download(client, url, display, timeout)
    except TimeoutError:
        if image is not None:
            await image.aclose()
        raise _timed_out(display, timeout) from None
    except BaseException:
        if image is not None:
            await image.aclose()
        raise
    return image


def _timed_out(display: str, timeout: float) -> SourceFetchError:
    return SourceFetchError(
        f"Downloading {display} timed out after {timeout:g} s. The server is slow or the file is "
        "large: try again later, or download the image yourself and pass it as `path` or `data`."
    )


def _parse_url(raw: str) -> httpx2.URL:
    text = raw.strip()
    if len(text) > MAX_URL_LENGTH:
        raise InvalidInputError(
            f"The URL is {len(text):,} characters long; at most {MAX_URL_LENGTH:,} are accepted."
        )
    lowered = text[:5].lower()
    if lowered == "data:":
        raise InvalidInputError("That is a data: URI, not a URL to download: pass it as `data` instead.")
    if lowered == "file:":
        raise InvalidInputError("That is a file:// URI, not a URL to download: pass it as `path` instead.")
    try:
        url = httpx2.URL(text)
    except (httpx2.InvalidURL, ValueError, TypeError):
        raise InvalidInputError(
            "The `url` is not a valid URL. Pass a full http:// or https:// address."
        ) from None
    if not url.scheme:
        raise InvalidInputError(
            "The `url` has no scheme. Pass a full address starting with https:// (or http://); "
            "for a local file use `path`."
        )
    if url.scheme not in ("http", "https"):
        raise SourceNotAllowedError(
            f"Only http and https URLs can be downloaded, not {url.scheme}:. "
            "Download the image yourself and pass it as `path` or `data`."
        )
    if not url.raw_host:
        raise InvalidInputError(
            "The `url` has no host name. Pass a full address like https://example.com/photo.jpg."
        )
    if url.port is not None and not 0 < url.port < 65536:
        raise InvalidInputError(f"The `url` has an invalid port ({url.port}).")
    if url.userinfo:
        raise SourceNotAllowedError(
            "The `url` contains a user name or password, which this server refuses to send. "
            "Download the image yourself and pass it as `path` or `data`, or use a URL without "
            "credentials."
        )
    return url


def display_url(url: httpx2.URL) -> str:
    """The URL as shown to people: no credentials, no query string (it often holds tokens)."""
    return str(url.copy_with(userinfo=b"", query=None, fragment=None))


async def _download(client: httpx2.AsyncClient, url: httpx2.URL, display: str, timeout: float) -> LoadedImage:
    """Follow redirects by hand (each hop re-vetted by the guarded transport) and save the body."""
    current = url
    redirects = 0
    while True:
        request = client.build_request("GET", current)
        try:
            response = await client.send(request, stream=True)
        except httpx2.TimeoutException:
            raise _timed_out(display, timeout) from None
        except httpx2.HTTPError as exc:
            raise SourceFetchError(
                f"Could not download {display}: {_http_error_text(exc)}. Check the URL, or download "
                "the image yourself and pass it as `path` or `data`."
            ) from None
        except SourceNotAllowedError as exc:
            if current is url:
                raise
            raise SourceNotAllowedError(
                f"{display} redirected to {display_url(current)}. {exc.message}"
            ) from None
        try:
            if response.status_code in _REDIRECT_STATUSES:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise SourceFetchError(
                        f"Downloading {display} was redirected more than {MAX_REDIRECTS} times (a redirect "
                        "loop?). Use the final address of the image, or download it yourself."
                    )
                current = _redirect_target(current, response, display)
                continue
            if not response.is_success:
                raise SourceFetchError(
                    f"Downloading {display} failed: the server answered HTTP {response.status_code}"
                    f"{' ' + response.reason_phrase if response.reason_phrase else ''}. Check that the "
                    "URL is right and publicly reachable, or download the image yourself and pass it "
                    "as `path` or `data`."
                )
            return await _save_body(response, current, display, timeout)
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()


def _redirect_target(current: httpx2.URL, response: httpx2.Response, display: str) -> httpx2.URL:
    location = response.headers.get("location", "").strip()
    if not location:
        raise SourceFetchError(
            f"Downloading {display} failed: the server answered HTTP {response.status_code} (a redirect) "
            "without saying where to. Use the final address of the image."
        )
    try:
        target = current.join(location)
    except (httpx2.InvalidURL, ValueError, TypeError):
        raise SourceFetchError(
            f"Downloading {display} failed: the server redirected to an invalid URL."
        ) from None
    if target.scheme not in ("http", "https"):
        raise SourceNotAllowedError(
            f"{display} redirected to a {target.scheme}: URL; only http and https are followed."
        )
    if target.userinfo:
        raise SourceNotAllowedError(
            f"{display} redirected to a URL containing a user name or password, which is refused."
        )
    return target


def _http_error_text(exc: httpx2.HTTPError) -> str:
    if isinstance(exc, httpx2.ConnectError):
        return "the connection failed"
    if isinstance(exc, httpx2.RemoteProtocolError):
        return "the server broke the HTTP protocol (closed the connection early?)"
    return f"{type(exc).__name__}" + (f" ({exc})" if str(exc) else "")


async def _save_body(
    response: httpx2.Response, final: httpx2.URL, display: str, timeout: float
) -> LoadedImage:
    what = f"The download from {display}"
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise SourceFetchError(
            f"{what} came {encoding}-compressed although an uncompressed response was asked for. "
            "Download the image yourself and pass it as `path` or `data`."
        )
    declared_length = response.headers.get("content-length", "").strip()
    if declared_length.isdigit() and int(declared_length) > MAX_IMAGE_BYTES:
        raise _too_large(what, int(declared_length), verb="is announced as")

    # run_sync checkpoints before starting the thread and is shielded while it runs, so a
    # file created there is always returned to us and known to the cleanup below.
    raw_file, temp = await anyio.to_thread.run_sync(_make_temp)
    out = anyio.wrap_file(raw_file)
    try:
        digest = hashlib.sha256()
        head = b""
        total = 0
        try:
            async for chunk in response.aiter_raw(_DOWNLOAD_CHUNK):
                total += len(chunk)
                if total > MAX_IMAGE_BYTES:
                    raise _over_limit(what, f"the download was stopped after {total:,} bytes")
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                await out.write(chunk)
        except httpx2.TimeoutException:
            raise _timed_out(display, timeout) from None
        except httpx2.HTTPError as exc:
            raise SourceFetchError(
                f"Downloading {display} failed midway: {_http_error_text(exc)}. Try again later."
            ) from None
        finally:
            with anyio.CancelScope(shield=True):
                await out.aclose()
        fmt = _check_content(head, total, what)
        leaf = urllib.parse.unquote(final.path.rsplit("/", 1)[-1]) or "image"
        return LoadedImage(
            kind="url",
            name=display,
            upload_name=sanitize_upload_name(leaf, fmt),
            format=fmt,
            size=total,
            sha256=digest.hexdigest(),
            path=temp,
            owns_path=True,
        )
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_remove_quietly, temp)
        raise


def _make_temp() -> tuple[BinaryIO, Path]:
    # mkstemp creates the file with mode 0600 and O_EXCL: private to this user, never a
    # pre-existing file or symlink planted by someone else.
    fd, name = tempfile.mkstemp(prefix="truthscan-", suffix=".download")
    try:
        return os.fdopen(fd, "wb"), Path(name)
    except BaseException:
        os.close(fd)
        _remove_quietly(Path(name))
        raise


# --- document ids -------------------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def validate_document_id(value: str) -> str:
    """The id in canonical lower-case form, or an error before any request is made.

    Only hyphenated UUIDs (optionally in braces or as urn:uuid:) are accepted: an id is a
    capability at TruthScan, so anything else is far more likely a mix-up (a file name, a
    sha256, a truncated copy) than a variant worth guessing at.
    """
    text = value.strip()
    candidate = text
    if candidate[:9].lower() == "urn:uuid:":
        candidate = candidate[9:]
    elif candidate.startswith("{") and candidate.endswith("}"):
        candidate = candidate[1:-1]
    if _UUID.fullmatch(candidate):
        return candidate.lower()
    shown = text if len(text) <= 48 else text[:45] + "..."
    raise InvalidInputError(
        f"{shown!r} is not a TruthScan document id: a TruthScan id is a UUID like "
        "77565038-9e3d-4e6a-8c80-e20785be5ee9, as returned by detect_image."
    )
