"""Images a person hands over through `request_image`: single-use, expiring, in memory only.

An image attached or pasted in a chat never reaches an MCP server, so the server asks for it:
`request_image` opens an upload here and the person drops the file on the upload page (or in
the evidence view). The upload id is the only credential, so it is unguessable (128 bits from
`secrets`), accepted once, and worthless after ten minutes. The bytes stay in this process's
memory, never on disk, and are dropped after the detection or at expiry, whichever comes
first; a handful of uploads may be open at once, so memory stays bounded.

Pure bookkeeping: no HTTP here. Each refusal is an `UploadError` whose `reason` the upload page
maps to its status (unknown 404, expired 410, used 409, too_large 413, not_image 415). The
clock is injected so that expiry can be tested without waiting ten minutes.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import anyio

from truthscan_mcp.errors import ImageSizeError, UnsupportedFormatError, UploadError
from truthscan_mcp.media.formats import MAX_IMAGE_BYTES, human_size, sanitize_upload_name
from truthscan_mcp.media.image import ContentDigest, LoadedImage, check_content

UPLOAD_TTL = timedelta(minutes=10)
#: uploads open (or holding bytes) at once; opening one more retires the oldest
MAX_OPEN = 8
#: ids remembered after use or expiry, so a late request gets 409/410 instead of 404
MAX_REMEMBERED = 256
MAX_NOTE = 200
MAX_NAME = 100

Clock = Callable[[], datetime]
UploadState = Literal["open", "received", "used", "expired"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Upload:
    """One `request_image`: where to drop the image, until when, and (once there) the image."""

    id: str
    url: str
    expires_at: datetime
    note: str | None = None
    state: UploadState = "open"
    image: LoadedImage | None = None
    #: the detection that used it, once done (so a repeated call can point at the result)
    document_id: str | None = None
    arrived: anyio.Event = field(default_factory=anyio.Event)

    def until(self) -> str:
        return self.expires_at.strftime("%H:%M UTC")


class UploadStore:
    """The uploads of one server, by id. Touched from the event loop only."""

    def __init__(
        self, *, clock: Clock = utc_now, ttl: timedelta = UPLOAD_TTL, max_open: int = MAX_OPEN
    ) -> None:
        self.clock = clock
        self.ttl = ttl
        self.max_open = max_open
        self._uploads: OrderedDict[str, Upload] = OrderedDict()

    def open(self, url_for: Callable[[str], str], note: str | None = None) -> Upload:
        """A new upload; `url_for(id)` is the page where the person drops the image."""
        self.sweep()
        upload_id = secrets.token_urlsafe(24)  # 192 bits, URL-safe
        upload = Upload(upload_id, url_for(upload_id), self.clock() + self.ttl, note=note)
        self._uploads[upload_id] = upload
        live = [u for u in self._uploads.values() if u.state in ("open", "received")]
        for old in live[: max(0, len(live) - self.max_open)]:
            self._retire(old, "expired")
        while len(self._uploads) > MAX_REMEMBERED:
            self._uploads.popitem(last=False)
        return upload

    def get(self, upload_id: str) -> Upload:
        """The upload, current as of now; `UploadError` when the id was never issued here."""
        self.sweep()
        upload = self._uploads.get(upload_id)
        if upload is None:
            raise UploadError(
                "No upload has this id on this server (it may have been mistyped, or the server "
                "restarted since): call request_image for a new upload link.",
                "unknown",
            )
        return upload

    def accepting(self, upload_id: str) -> Upload:
        """The upload, if it still takes a file (checked before a body is read or decoded)."""
        upload = self.get(upload_id)
        self._refuse_closed(upload, receiving=True)
        return upload

    def receive(self, upload_id: str, content: bytes, name: str | None) -> Upload:
        """The person's file for `upload_id`: accepted once, if it is an image TruthScan reads."""
        upload = self.accepting(upload_id)
        what = "The uploaded file"
        if len(content) > MAX_IMAGE_BYTES:
            raise UploadError(
                f"{what} is {human_size(len(content))}, but TruthScan accepts at most "
                f"{human_size(MAX_IMAGE_BYTES)}. Resize or re-compress it (for example as a JPEG) "
                "and drop it again.",
                "too_large",
            )
        digest = ContentDigest.of(content)
        try:
            fmt = check_content(digest, what)
        except UnsupportedFormatError as exc:
            raise UploadError(exc.message, "not_image") from None
        except ImageSizeError as exc:
            raise UploadError(exc.message, "too_small") from None
        shown = _display_name(name)
        upload.image = LoadedImage(
            kind="upload",
            name=shown,
            upload_name=sanitize_upload_name(shown, fmt),
            format=fmt,
            size=len(content),
            sha256=digest.sha256,
            content=content,
        )
        upload.state = "received"
        upload.arrived.set()
        return upload

    async def take(self, upload_id: str, wait_seconds: float) -> LoadedImage:
        """The uploaded image, waiting up to `wait_seconds` for it to arrive."""
        upload = self.get(upload_id)
        if upload.state == "open" and wait_seconds > 0:
            left = (upload.expires_at - self.clock()).total_seconds()
            with anyio.move_on_after(max(0.0, min(wait_seconds, left))):
                await upload.arrived.wait()
            upload = self.get(upload_id)
        self._refuse_closed(upload, receiving=False)
        if upload.image is None:
            raise UploadError(
                f"The person has not handed over the image yet. It can still be dropped at "
                f"{upload.url} until {upload.until()}; when they say it is there, call the tool "
                "again with the same `upload`.",
                "pending",
            )
        return upload.image

    def finished(self, upload_id: str, document_id: str | None = None) -> None:
        """The detection is done: drop the bytes; the id stays used (a second upload gets 409)."""
        upload = self._uploads.get(upload_id)
        if upload is not None and upload.state in ("open", "received"):
            upload.document_id = document_id
            self._retire(upload, "used")

    def sweep(self) -> None:
        """Drop the bytes of every upload past its expiry."""
        now = self.clock()
        for upload in self._uploads.values():
            if upload.state in ("open", "received") and now >= upload.expires_at:
                self._retire(upload, "expired")

    def close_all(self) -> None:
        """The server is stopping: no upload outlives it, and no bytes are kept."""
        for upload in self._uploads.values():
            if upload.state in ("open", "received"):
                self._retire(upload, "expired")

    def holding(self) -> int:
        """How many uploads hold bytes now (for tests and logs)."""
        self.sweep()
        return sum(1 for u in self._uploads.values() if u.image is not None)

    def _retire(self, upload: Upload, state: UploadState) -> None:
        upload.state = state
        upload.image = None
        upload.arrived.set()  # a waiter wakes and sees why

    def _refuse_closed(self, upload: Upload, *, receiving: bool) -> None:
        if upload.state == "expired":
            raise UploadError(
                "This upload link has expired (links last 10 minutes, and the image is dropped): "
                "call request_image for a new one.",
                "expired",
            )
        if upload.state == "used" or (receiving and upload.state == "received"):
            done = f" (its result: get_result with id {upload.document_id})" if upload.document_id else ""
            raise UploadError(
                "This upload link has been used already: each link takes one image"
                f"{done}. Call request_image for a new link to check another image.",
                "used",
            )


def _display_name(name: str | None) -> str:
    text = "".join(ch for ch in (name or "") if ch.isprintable()).strip()
    text = text.replace("/", "_").replace("\\", "_")
    return text[:MAX_NAME] or "uploaded image"
