"""The upload page: `GET /upload/<id>` shows a drop zone, `POST /upload/<id>` takes the file.

A person's browser is on the other side, and so, potentially, is any web page they visit: the
page answers only under its own host name (a rebound DNS name gets 421), takes a POST only from
its own origin (a foreign page gets 403), and the unguessable, single-use, expiring id is the
only credential. Size is checked from `Content-Length` and again while reading (413), the
content by its magic bytes (415); a refusal is a plain sentence a person can act on. The rules
on ids live in `media.uploads`; this module maps them to HTTP.
"""

from __future__ import annotations

import html
import logging
import urllib.parse
from collections.abc import Callable
from functools import cache
from importlib.resources import files

from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from truthscan_mcp.errors import UploadError
from truthscan_mcp.media.formats import MAX_IMAGE_BYTES, human_size
from truthscan_mcp.media.uploads import Upload, UploadStore

logger = logging.getLogger(__name__)

UPLOAD_PATH = "/upload/{upload_id}"
STATUS_OF = {
    "unknown": 404,
    "expired": 410,
    "used": 409,
    "too_large": 413,
    "not_image": 415,
    "too_small": 422,
}
RECEIVED = "Received {name} — go back to your assistant and say it is there."
#: the page loads nothing from anywhere; its script may only talk back to this server
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

#: Host header values accepted, e.g. "127.0.0.1:8123" or "localhost:*" (any port); None: any
HostCheck = Callable[[], list[str] | None]


@cache
def _template() -> str:
    return files("truthscan_mcp.adapter").joinpath("upload.html").read_text(encoding="utf-8")


def page_html(upload: Upload) -> str:
    page = _template().replace("__EXPIRES__", html.escape(upload.until()))
    if upload.note:
        note = f'<p class="note"><strong>Your assistant says:</strong> {html.escape(upload.note)}</p>'
        page = page.replace("<!--__NOTE__-->", note)
    return page


def host_allowed(host: str, patterns: list[str]) -> bool:
    """`host` is one of `patterns` ("name:port", "name:*" for any port, "*" for any host)."""
    host = host.strip().lower()
    if "*" in patterns:
        return True
    for pattern in patterns:
        if host == pattern:
            return True
        if pattern.endswith(":*"):
            name, _, port = host.rpartition(":")
            if name == pattern[:-2] and port.isdigit():
                return True
    return False


def _link_host(store: UploadStore, upload_id: str) -> list[str]:
    """Where no host list is configured (the HTTP transport on a public bind, reached under
    whatever name the deployment has): the host of the link this upload was given out with."""
    try:
        return [urllib.parse.urlsplit(store.get(upload_id).url).netloc.lower()]
    except UploadError:
        return ["*"]  # an unknown id: no host to hold it to, and the answer is 404 anyway


def _plain(status: int, text: str) -> Response:
    return PlainTextResponse(text, status_code=status, headers=SECURITY_HEADERS)


def _refusal(exc: UploadError) -> Response:
    return _plain(STATUS_OF.get(exc.reason, 400), exc.message)


def _same_origin(request: Request) -> bool:
    """No Origin (not a browser's cross-site request) or this very host: anything else is a
    page from elsewhere trying to hand an image to a server on the person's machine."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urllib.parse.urlsplit(origin.strip())
    return (
        parts.scheme in ("http", "https") and parts.netloc.lower() == request.headers.get("host", "").lower()
    )


def _name_of(request: Request) -> str | None:
    raw = request.headers.get("x-upload-name")
    return urllib.parse.unquote(raw)[:200] if raw else None


async def _read_body(request: Request) -> bytes | None:
    """The body, or None as soon as it passes the limit (the rest is never read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMAGE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def upload_routes(store: UploadStore, hosts: HostCheck) -> ASGIApp:
    """The page's routes, as an ASGI app to serve alone (the stdio listener) or beside /mcp."""

    async def endpoint(request: Request) -> Response:
        upload_id = str(request.path_params["upload_id"])
        if not host_allowed(request.headers.get("host", ""), hosts() or _link_host(store, upload_id)):
            return _plain(
                421, "This page answers only under its own address: open the link your assistant gave."
            )
        if request.method == "POST" and not _same_origin(request):
            logger.warning("refused an upload from a foreign Origin")
            return _plain(403, "Uploads are accepted only from this server's own upload page.")
        try:
            if request.method == "GET":
                return _get(store.get(upload_id))
            store.accepting(upload_id)  # a closed link is refused before its body is read
        except UploadError as exc:
            return _refusal(exc)
        try:
            body = await _read_body(request)
        except ClientDisconnect:
            return _plain(400, "The upload was interrupted: try again.")
        if body is None:
            return _plain(
                413,
                f"The file is larger than {human_size(MAX_IMAGE_BYTES)}, the most TruthScan accepts. "
                "Resize or re-compress it (for example as a JPEG) and try again.",
            )
        try:
            received = store.receive(upload_id, body, _name_of(request))
        except UploadError as exc:
            return _refusal(exc)
        assert received.image is not None
        return _plain(200, RECEIVED.format(name=received.image.name))

    return Router(routes=[Route(UPLOAD_PATH, endpoint, methods=["GET", "POST"])])


def _get(upload: Upload) -> Response:
    """The drop zone, or, for a link that was used or expired, a sentence saying so."""
    if upload.state == "expired":
        return _plain(410, "This link has expired: ask your assistant for a new one.")
    if upload.state in ("used", "received"):
        return _plain(409, "This link has been used already: go back to your assistant.")
    return HTMLResponse(page_html(upload), headers=SECURITY_HEADERS)


class UploadMount:
    """`/upload/...` to the upload routes, everything else to `app` (the MCP transport):
    outermost, because a person's browser has neither the bearer token nor an allowed Origin."""

    def __init__(self, app: ASGIApp, uploads: ASGIApp) -> None:
        self.app = app
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        to_uploads = scope["type"] == "http" and path.startswith("/upload/")
        await (self.uploads if to_uploads else self.app)(scope, receive, send)
