"""The evidence view (MCP App): the `ui://` page and the app-only tool that hands it images.

The page (built from `ui/` into `adapter/ui/report.html`) draws a detection report or a batch.
It needs the image and TruthScan's heatmap, but those bytes must not enter the model's context:
they would cost tokens and tell a model nothing. So they travel through `get_report_images`, a
tool with visibility `["app"]`, which hosts hide from the model and only the page calls. It
spends no credits: thumbnails come from memory (the detector leaves each image in the
`ImageStore` once its id is known, for clients that render MCP Apps), the heatmap from
`get_result` (free) plus a download from TruthScan's storage. Clients without MCP Apps get the
same text and structured content as ever, and no image is read or kept for them.

Thumbnails use Pillow, imported lazily: a thumbnail bounded to 512 px keeps a 10 MB photo from
reaching the page as 13 MB of base64, and decoding JPEG/PNG/WebP/TIFF/BMP/AVIF safely is exactly
the job of a well-kept library — within a pixel budget read from the header (`pixels`), so a
small file of huge dimensions costs nothing. HEIC (no decoder in Pillow's wheels) and images
over the budget get no thumbnail; the page shows a placeholder and the note says why.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import logging
from collections import OrderedDict
from importlib.resources import files
from typing import Annotated, Any, NamedTuple

import anyio
import anyio.to_thread
from mcp.server.apps import Apps
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, Icon, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from truthscan_mcp.adapter.pixels import decode_small
from truthscan_mcp.adapter.results import tool_errors
from truthscan_mcp.adapter.texts import SUBMIT_UPLOAD_DESCRIPTION
from truthscan_mcp.api.client import MAX_HEATMAP_BYTES
from truthscan_mcp.app import AppContext
from truthscan_mcp.errors import UploadError
from truthscan_mcp.media.formats import human_size
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.media.inline import MAX_DATA_CHARS
from truthscan_mcp.media.uploads import UploadStore

logger = logging.getLogger(__name__)

REPORT_URI = "ui://truthscan/report.html"
#: `_meta` for every tool whose result the page draws: the current key and the flat legacy key
#: that hosts written against the first MCP Apps drafts read.
UI_META: dict[str, Any] = {"ui": {"resourceUri": REPORT_URI}, "ui/resourceUri": REPORT_URI}

MAX_SIDE = 512
MAX_THUMBNAILS = 64
#: Formats every browser decodes: sent as they are when Pillow cannot make a thumbnail but the
#: file is small enough not to matter.
_BROWSER_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
_MAX_RAW_BYTES = 512 * 1024

IMAGES_DESCRIPTION = """\
For the evidence view only: a small thumbnail of a checked image and TruthScan's heatmap, by
document id, as data: URIs. Spends no credits.\
"""


class ReportImages(BaseModel):
    """What the page gets for one document: data: URIs (or null) and why one is missing."""

    model_config = ConfigDict(extra="forbid")

    id: str
    thumbnail: str | None = Field(default=None, description="data: URI, at most 512 px a side.")
    heatmap: str | None = Field(default=None, description="data: URI of TruthScan's heatmap, at most 512 px.")
    note: str | None = Field(default=None, description="Why the thumbnail is missing, for a person.")
    summary: str = Field(default="", description="The text block's content.")


class ReceivedUpload(BaseModel):
    """What `submit_upload` tells the page: the image arrived, under which name."""

    model_config = ConfigDict(extra="forbid")

    upload_id: str
    name: str
    bytes: int
    media_type: str
    summary: str = Field(default="", description="The text block's content.")


def _decode(data: str) -> bytes:
    """The page's base64 (or data: URI) as bytes, refused before decoding when too long."""
    if len(data) > MAX_DATA_CHARS:
        raise UploadError("The image is larger than 10 MB, the most TruthScan accepts.", "too_large")
    text = data.strip()
    if text[:5].lower() == "data:":
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise UploadError("The image data is not valid base64.", "not_image") from None


def _data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def make_thumbnail(data: bytes, media_type: str, *, max_side: int = MAX_SIDE) -> str | None:
    """A data: URI at most `max_side` px a side, or None when the bytes cannot be decoded here."""
    return thumbnail_of(data, media_type, max_side=max_side).uri


class Thumbnail(NamedTuple):
    """A small copy of an image for the evidence view, or why there is none."""

    #: a data: URI at most `max_side` px a side, or None
    uri: str | None
    #: why there is no thumbnail, in words for a person (None when there is one)
    note: str | None


def thumbnail_of(data: bytes, media_type: str, *, max_side: int = MAX_SIDE) -> Thumbnail:
    """A data: URI at most `max_side` px a side, or None and why there is none, for a person.

    Blocking (decoding takes tens of milliseconds): call it in a worker thread. Decoding is
    bounded by `pixels.decode_small` (a pixel budget read from the header); never raises."""
    if importlib.util.find_spec("PIL") is None:  # no decoder: a small file a browser reads as it is
        if media_type in _BROWSER_TYPES and len(data) <= _MAX_RAW_BYTES:
            return Thumbnail(_data_uri(data, media_type), None)
        return Thumbnail(None, "No preview: this image format cannot be shown here.")
    decoded = decode_small(data, max_side)
    image = decoded.image
    if image is None:
        return Thumbnail(None, decoded.note)
    try:
        out = io.BytesIO()
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            image.convert("RGBA").save(out, "PNG", optimize=True)
            return Thumbnail(_data_uri(out.getvalue(), "image/png"), None)
        image.convert("RGB").save(out, "JPEG", quality=82)
        return Thumbnail(_data_uri(out.getvalue(), "image/jpeg"), None)
    except Exception as exc:  # a small image that will not encode (Pillow raises many kinds)
        logger.debug("no thumbnail for a %s image: %s", media_type, exc)
        return Thumbnail(None, "No preview: this image format cannot be shown here.")


class ImageStore:
    """Thumbnails and heatmaps by document id, the most recent `capacity` of each, in memory.

    The detector's `ImageSink` (see `detection.images`): the detection tools pass it for clients
    that render MCP Apps, and the detector calls `keep` once a detection has its id. Memory only,
    on purpose: the page asks for the images of a result it just received, and a restart losing
    them costs a placeholder, never a credit. Touched from the event loop only.
    """

    def __init__(self, capacity: int = MAX_THUMBNAILS) -> None:
        self.capacity = capacity
        self._thumbnails: OrderedDict[str, str | None] = OrderedDict()
        #: why a known image has no thumbnail (only for those that have none)
        self._notes: dict[str, str] = {}
        self._heatmaps: OrderedDict[str, str] = OrderedDict()

    async def keep(self, document_id: str, image: LoadedImage) -> None:
        """Keep a thumbnail of `image`, detected as `document_id`; its bytes are read only when
        this id has none yet. Never raises for the image: a failure is only a missing preview."""
        if document_id in self._thumbnails:
            self._thumbnails.move_to_end(document_id)
            return
        try:
            data = await image.read_bytes()
            thumbnail, note = await anyio.to_thread.run_sync(thumbnail_of, data, image.media_type)
        except Exception as exc:  # a paid detection goes on without its preview, whatever failed
            logger.warning("no thumbnail for %s: %s", document_id, type(exc).__name__)
            return
        self._put(self._thumbnails, document_id, thumbnail)
        if note is not None:
            self._notes[document_id] = note

    def thumbnail(self, document_id: str) -> str | None:
        if document_id in self._thumbnails:
            self._thumbnails.move_to_end(document_id)
        return self._thumbnails.get(document_id)

    def note(self, document_id: str) -> str:
        """Why `document_id` has no thumbnail, for a person."""
        if document_id not in self._thumbnails:
            return "No preview: this server no longer holds the image."
        return self._notes.get(document_id, "No preview: this image format cannot be shown here.")

    def heatmap(self, document_id: str) -> str | None:
        if document_id in self._heatmaps:
            self._heatmaps.move_to_end(document_id)
        return self._heatmaps.get(document_id)

    def keep_heatmap(self, document_id: str, uri: str) -> None:
        self._put(self._heatmaps, document_id, uri)

    def _put(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.capacity:
            gone, _ = table.popitem(last=False)
            self._notes.pop(gone, None)


def report_html() -> str:
    """The built page (see ui/build.mjs), shipped as package data."""
    return files("truthscan_mcp.adapter").joinpath("ui/report.html").read_text(encoding="utf-8")


async def _heatmap_for(app: AppContext, document_id: str, images: ImageStore) -> str | None:
    known = images.heatmap(document_id)
    if known is not None:
        return known
    report = await app.detector.get_result(document_id)
    if report.heatmap_status != "ready" or not report.heatmap_url:
        return None
    fetched = await app.client.fetch_image(report.heatmap_url, max_bytes=MAX_HEATMAP_BYTES)
    if fetched is None:
        return None
    data, media_type = fetched
    uri = await anyio.to_thread.run_sync(make_thumbnail, data, media_type)
    if uri is not None:
        images.keep_heatmap(document_id, uri)
    return uri


def create_apps(
    images: ImageStore, *, icons: list[Icon] | None = None, uploads: UploadStore | None = None
) -> Apps:
    """The MCP Apps extension to pass to `MCPServer(extensions=[...])`: the page and its tool.

    (The SDK applies extensions when the server is constructed, hence a factory rather than a
    function that registers on a finished server.)"""
    apps = Apps()
    apps.add_html_resource(
        REPORT_URI,
        report_html(),
        name="report",
        title="TruthScan evidence view",
        description="The verdict, the heatmap over the image, the score and TruthScan's reasons.",
        prefers_border=True,
    )

    @apps.tool(
        resource_uri=REPORT_URI,
        visibility=["app"],
        meta={"ui/resourceUri": REPORT_URI},
        name="get_report_images",
        title="Images for the evidence view",
        description=IMAGES_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Images for the evidence view",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=True,
        ),
        icons=icons,
    )
    async def get_report_images(  # pyright: ignore[reportUnusedFunction]
        ctx: Context[AppContext],
        id: Annotated[str, Field(description="The TruthScan document id.", max_length=100)],
        heatmap: Annotated[bool, Field(description="Also fetch the heatmap when it is ready.")] = True,
    ) -> Annotated[CallToolResult, ReportImages]:
        app = ctx.request_context.lifespan_context
        thumbnail = images.thumbnail(id)
        note = images.note(id) if thumbnail is None else None
        heat = None
        if heatmap:
            with tool_errors():  # TruthScan's words reach the model cleaned, as from every tool
                heat = await _heatmap_for(app, id, images)
        text = (
            f"Images for {id}: thumbnail {'yes' if thumbnail else 'no'}, heatmap {'yes' if heat else 'no'}."
        )
        result = ReportImages(id=id, thumbnail=thumbnail, heatmap=heat, note=note, summary=text)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
        )

    if uploads is not None:
        _add_submit_upload(apps, uploads, icons)
    return apps


def _add_submit_upload(apps: Apps, uploads: UploadStore, icons: list[Icon] | None) -> None:
    """The drop zone's way in: the page hands the dropped file to the server (page → host →
    server), then calls detect_image with `upload`, so the bytes never enter the model's context."""

    @apps.tool(
        resource_uri=REPORT_URI,
        visibility=["app"],
        meta={"ui/resourceUri": REPORT_URI},
        name="submit_upload",
        title="Hand over a dropped image",
        description=SUBMIT_UPLOAD_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Hand over a dropped image",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
        icons=icons,
    )
    async def submit_upload(  # pyright: ignore[reportUnusedFunction]
        upload_id: Annotated[str, Field(description="The upload_id from request_image.", max_length=100)],
        name: Annotated[str, Field(description="The file's name.", max_length=255)],
        data: Annotated[str, Field(description="The file's bytes as base64.")],
    ) -> Annotated[CallToolResult, ReceivedUpload]:
        with tool_errors():
            uploads.accepting(upload_id)  # an unknown or closed id is refused before decoding
            received = uploads.receive(upload_id, _decode(data), name)
        image = received.image
        assert image is not None
        text = (
            f"Received {image.name} ({human_size(image.size)}) for upload {upload_id}: "
            f"call detect_image with upload={upload_id}."
        )
        result = ReceivedUpload(
            upload_id=upload_id, name=image.name, bytes=image.size, media_type=image.media_type, summary=text
        )
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
        )
