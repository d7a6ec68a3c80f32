"""Downloading a web page's HTML for a page sweep, through the same URL guard as an image.

A page URL comes from the assistant like an image URL does, so it gets exactly the same rules:
public addresses only (unless allowed), every redirect re-vetted, a total deadline, an
uncompressed body counted while streaming. The body must be HTML: a JSON document, an image or
a PDF is not a page whose images can be listed, and is refused before anything is spent.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import anyio
import httpx2

from truthscan_mcp import __version__
from truthscan_mcp.errors import InvalidInputError, SourceFetchError
from truthscan_mcp.media.download import display_url, fetch_following, parse_url
from truthscan_mcp.media.formats import describe_unsupported, human_size
from truthscan_mcp.media.netguard import ALLOW_PRIVATE_HINT, guarded_client

MAX_PAGE_BYTES = 5 * 1024 * 1024
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_ADVICE = "pass the images' own addresses as `urls` instead"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchedPage:
    #: the final URL after redirects, in full: relative image URLs resolve against it
    url: str
    #: the same, as shown to people (no credentials, no query string)
    display: str
    html: str
    size: int


async def fetch_page(
    raw: str, *, allow_private: bool, timeout: float, private_hint: str = ALLOW_PRIVATE_HINT
) -> FetchedPage:
    """The page's HTML, decoded, or an error that says what to do (nothing is spent either way)."""
    url = parse_url(raw, argument="page")
    display = display_url(url)
    headers = {
        "User-Agent": f"truthscan-mcp/{__version__}",
        "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
        "Accept-Encoding": "identity",
    }

    async def save(response: httpx2.Response, final: httpx2.URL) -> FetchedPage:
        return await _read_page(response, final, display)

    try:
        with anyio.fail_after(timeout):
            async with guarded_client(
                allow_private=allow_private, timeout=timeout, headers=headers, private_hint=private_hint
            ) as client:
                return await fetch_following(client, url, display, timeout, save, advice=_ADVICE)
    except TimeoutError:
        raise SourceFetchError(
            f"Downloading the page {display} timed out after {timeout:g} s. Try again later, or {_ADVICE}."
        ) from None


async def _read_page(response: httpx2.Response, final: httpx2.URL, display: str) -> FetchedPage:
    what = f"The page {display}"
    media_type, charset = _content_type(response.headers.get("content-type", ""))
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise SourceFetchError(
            f"{what} came {encoding}-compressed although an uncompressed one was asked for."
        )
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > MAX_PAGE_BYTES:
        raise _too_large(what, f"announced as {human_size(int(declared))}")
    if media_type and media_type not in _HTML_TYPES:
        raise _not_html(what, f"the server says it is {media_type}")
    body = bytearray()
    try:
        async for chunk in response.aiter_raw(_CHUNK):
            body += chunk
            if len(body) > MAX_PAGE_BYTES:
                raise _too_large(what, f"stopped after {human_size(len(body))}")
    except httpx2.HTTPError:
        raise SourceFetchError(f"Downloading {what[4:]} failed midway. Try again later.") from None
    if not media_type:  # no Content-Type: judge the bytes, as a browser would
        looks = describe_unsupported(bytes(body[:512]))
        if looks != "an HTML page":
            raise _not_html(what, f"it has no content type and looks like {looks or 'no web page'}")
    return FetchedPage(
        url=str(final), display=display_url(final), html=_decode(bytes(body), charset), size=len(body)
    )


def _content_type(value: str) -> tuple[str, str | None]:
    media_type, _, rest = value.partition(";")
    charset: str | None = None
    for part in rest.split(";"):
        key, _, val = part.partition("=")
        if key.strip().lower() == "charset" and val.strip():
            charset = val.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def _decode(body: bytes, charset: str | None) -> str:
    """The header's charset when it names a known one, else UTF-8 (a BOM wins over both);
    undecodable bytes become U+FFFD: a page with a broken byte still shows its images."""
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", errors="replace")
    if charset:
        try:
            return body.decode(charset, errors="replace")
        except LookupError:
            pass
    return body.decode("utf-8", errors="replace")


def _not_html(what: str, detail: str) -> InvalidInputError:
    return InvalidInputError(
        f"{what} is not a web page ({detail}), so there are no images on it to list. Pass an "
        "image's own address as `url` (or several as `urls`); nothing was spent."
    )


def _too_large(what: str, detail: str) -> InvalidInputError:
    return InvalidInputError(
        f"{what} is larger than {human_size(MAX_PAGE_BYTES)} ({detail}), the most a page sweep reads. "
        f"Pass the images' own addresses as `urls` instead; nothing was spent."
    )
