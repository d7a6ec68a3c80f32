"""What this process witnessed of each detection, kept in memory for its evidence report.

An evidence report must say which bytes were checked and when each step happened, as recorded
at the time, not reconstructed at export. The cache keeps the custody of paid documents across
restarts (`cache.database`, table `custody`), but a server may run with the cache off, and the
cache never holds image bytes; so each detection also leaves here, by document id: the source
with its custody (path or URL and final URL, when read), when it was submitted and first seen
settled, its latest report, and its exact bytes while a memory budget allows (a report embeds
the picture; a URL's bytes exist nowhere else once its temp file is gone).

Touched from the event loop only; bounded in entries and in bytes, oldest dropped first.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from truthscan_mcp.errors import TruthScanError
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.models import DetectionReport, ReportSource

logger = logging.getLogger(__name__)

#: Detections remembered, and the bytes of their images kept at most (the newest first).
CAPACITY = 128
MAX_BYTES = 48 * 1024 * 1024


@dataclass
class Witnessed:
    """One document as this process saw it; every field filled in when it happened."""

    document_id: str
    source: ReportSource | None = None
    content: bytes | None = None
    media_type: str | None = None
    submitted_at: datetime | None = None
    completed_at: datetime | None = None
    report: DetectionReport | None = None


class EvidenceLog:
    """The detector's memory of its detections, by TruthScan document id."""

    def __init__(self, capacity: int = CAPACITY, max_bytes: int = MAX_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Witnessed] = OrderedDict()
        self._bytes = 0

    def get(self, document_id: str) -> Witnessed | None:
        return self._entries.get(document_id)

    async def keep_image(self, document_id: str, image: LoadedImage, source: ReportSource) -> None:
        """The bytes and custody of the read that answered `document_id` (the latest read wins:
        its bytes are the ones a report then shows). Never raises for the image."""
        entry = self._entry(document_id)
        entry.source = source
        if image.size > self.max_bytes:
            return
        try:
            content = await image.read_bytes()  # a file is re-read and checked against its hash
        except (TruthScanError, OSError) as exc:
            logger.debug("no image kept for the report of %s: %s", document_id, exc)
            return
        self._drop_bytes(entry)
        entry.content, entry.media_type = content, image.media_type
        self._bytes += len(content)
        self._trim_bytes()

    def submitted(self, document_id: str, source: ReportSource) -> None:
        """Called the moment TruthScan accepted a submission this process paid for."""
        entry = self._entry(document_id)
        entry.submitted_at = datetime.now(UTC)
        entry.source = entry.source or source

    def reported(self, report: DetectionReport) -> None:
        """The latest report of a document polled by this process; the first settled one dates
        its completion."""
        if report.id is None:
            return
        entry = self._entry(report.id)
        entry.report = report
        if report.complete and entry.completed_at is None:
            entry.completed_at = datetime.now(UTC)

    def _entry(self, document_id: str) -> Witnessed:
        entry = self._entries.get(document_id)
        if entry is None:
            entry = self._entries[document_id] = Witnessed(document_id)
            while len(self._entries) > self.capacity:
                _, dropped = self._entries.popitem(last=False)
                self._drop_bytes(dropped)
        self._entries.move_to_end(document_id)
        return entry

    def _drop_bytes(self, entry: Witnessed) -> None:
        if entry.content is not None:
            self._bytes -= len(entry.content)
            entry.content = None

    def _trim_bytes(self) -> None:
        for entry in self._entries.values():  # oldest first
            if self._bytes <= self.max_bytes:
                return
            self._drop_bytes(entry)
