"""Downloading a URL image source, through the URL guard, into a private temp file.

The download is the part of a URL source that deals with HTTP: redirects followed by hand so
each hop is re-vetted by `netguard.GuardedTransport`, sizes capped while streaming (never
trusting Content-Length), uncompressed transfer only, a total time limit. The guard itself
stays in `netguard.py`: it is a self-contained security unit (address rules, DNS pinning, a
transport) with its own tests, and nothing in it knows about images.
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

import anyio
import httpx2

from truthscan_mcp import __version__
from truthscan_mcp.errors import InvalidInputError, SourceFetchError, SourceNotAllowedError, TruthScanError
from truthscan_mcp.media.formats import MAX_IMAGE_BYTES, sanitize_upload_name
from truthscan_mcp.media.image import (
    LoadedImage,
    check_content,
    over_limit,
    read_digest,
    remove_quietly,
    too_large,
)
from truthscan_mcp.media.netguard import ALLOW_PRIVATE_HINT, guarded_client

MAX_REDIRECTS = 5
#: what a person can do when an image URL cannot be downloaded
IMAGE_ADVICE = "download the image yourself and pass it as `path` or `data`"
MAX_URL_LENGTH = 8192

_DOWNLOAD_CHUNK = 64 * 1024
_T = TypeVar("_T")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


async def load_url(
    raw: str, *, allow_private: bool, timeout: float, private_hint: str = ALLOW_PRIVATE_HINT
) -> LoadedImage:
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
                allow_private=allow_private, timeout=timeout, headers=headers, private_hint=private_hint
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


def parse_url(raw: str, argument: str = "url") -> httpx2.URL:
    """`raw` as an http(s) URL this server may try to fetch, or the refusal naming `argument`."""
    try:
        return _parse_url(raw)
    except TruthScanError as exc:
        if argument == "url":
            raise
        raise type(exc)(exc.message.replace("The `url`", f"The `{argument}`")) from None


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

    async def save(response: httpx2.Response, final: httpx2.URL) -> LoadedImage:
        return await _save_body(response, final, display, timeout)

    return await fetch_following(client, url, display, timeout, save)


async def fetch_following(
    client: httpx2.AsyncClient,
    url: httpx2.URL,
    display: str,
    timeout: float,
    save: Callable[[httpx2.Response, httpx2.URL], Awaitable[_T]],
    *,
    advice: str = IMAGE_ADVICE,
) -> _T:
    """GET `url` with `client` (a `guarded_client`), following redirects by hand so that each
    hop is re-vetted, and hand the final successful response (streamed) and its URL to `save`.

    Shared by image downloads and page sweeps: both need the same redirect rules and errors;
    `advice` is what the person can do instead (for an image: pass it as `path` or `data`)."""
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
                f"Could not download {display}: {_http_error_text(exc)}. Check the URL, or {advice}."
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
                        f"loop?). Use the final address, or {advice}."
                    )
                current = _redirect_target(current, response, display)
                continue
            if not response.is_success:
                raise SourceFetchError(
                    f"Downloading {display} failed: the server answered HTTP {response.status_code}"
                    f"{' ' + response.reason_phrase if response.reason_phrase else ''}. Check that the "
                    f"URL is right and publicly reachable, or {advice}."
                )
            return await save(response, current)
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
        raise too_large(what, int(declared_length), verb="is announced as")

    # run_sync checkpoints before starting the thread and is shielded while it runs, so a
    # file created there is always returned to us and known to the cleanup below.
    raw_file, temp = await anyio.to_thread.run_sync(_make_temp)
    out = anyio.wrap_file(raw_file)
    try:
        try:
            digest = await read_digest(
                response.aiter_raw(_DOWNLOAD_CHUNK),
                on_over_limit=lambda size: over_limit(what, f"the download was stopped after {size:,} bytes"),
                sink=out.write,
            )
        except httpx2.TimeoutException:
            raise _timed_out(display, timeout) from None
        except httpx2.HTTPError as exc:
            raise SourceFetchError(
                f"Downloading {display} failed midway: {_http_error_text(exc)}. Try again later."
            ) from None
        finally:
            with anyio.CancelScope(shield=True):
                await out.aclose()
        fmt = check_content(digest, what)
        leaf = urllib.parse.unquote(final.path.rsplit("/", 1)[-1]) or "image"
        return LoadedImage(
            kind="url",
            name=display,
            upload_name=sanitize_upload_name(leaf, fmt),
            format=fmt,
            size=digest.size,
            sha256=digest.sha256,
            path=temp,
            owns_path=True,
            location=display,
            final_url=display_url(final),
        )
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(remove_quietly, temp)
        raise


def _make_temp() -> tuple[BinaryIO, Path]:
    # mkstemp creates the file with mode 0600 and O_EXCL: private to this user, never a
    # pre-existing file or symlink planted by someone else.
    fd, name = tempfile.mkstemp(prefix="truthscan-", suffix=".download")
    try:
        return os.fdopen(fd, "wb"), Path(name)
    except BaseException:
        os.close(fd)
        remove_quietly(Path(name))
        raise
