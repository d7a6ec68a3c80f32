"""Where results outlive the process: the protocol the detector needs and the record it gets.

Kept apart from `cache/` so the detection layer depends on a small interface, not on SQLite:
the cache implements it (`cache.database.ResultCache`), and a detector without one works the same,
only paying again for bytes it has seen before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from truthscan_mcp.models import DetectionReport, ReportSource


@dataclass(frozen=True)
class StoredResult:
    """One TruthScan document as the cache knows it; `report` is None until the first answer."""

    document_id: str
    source: ReportSource
    deep_analysis: bool
    preview: bool
    report: DetectionReport | None
    submitted_at: float
    updated_at: float

    def covers(self, *, deep_analysis: bool, preview: bool) -> bool:
        """A document made with deep analysis (or a preview) also answers a request without it."""
        return (self.deep_analysis or not deep_analysis) and (self.preview or not preview)


class ResultStore(Protocol):
    """Where results outlive the process: the content cache (`cache.ResultCache`); optional.

    Implementations never raise for storage trouble: a broken cache must not cost a detection.
    """

    async def find(self, sha256: str, *, deep_analysis: bool, preview: bool) -> StoredResult | None:
        """The newest document of these bytes made with at least these options."""
        ...

    async def get(self, document_id: str) -> StoredResult | None: ...

    async def record_submission(
        self, document_id: str, source: ReportSource, *, deep_analysis: bool, preview: bool
    ) -> None: ...

    async def save_report(self, report: DetectionReport, *, deep_analysis: bool) -> None: ...

    async def record_answer(self, document_id: str, source_name: str | None) -> None: ...
