"""What the cache could not write down yet: kept in memory, answered from, and written later.

A full disk, an I/O error or a lock held elsewhere must not make this process pay again for
bytes it has just paid for, nor lose the fact that it paid (the daily cap counts it). So every
write the file refused is kept here twice over: as the facts a lookup needs (documents by id,
the history, paid detections) and as the write itself, replayed in order once the file takes
writes again. Lives for the process: a restart during the outage forgets it, as a cache may.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from truthscan_mcp.cache.database import Database
from truthscan_mcp.detection.store import StoredResult
from truthscan_mcp.models import DetectionReport, HistoryEntry

#: A write of the file, as the store would have made it.
Write = Callable[[Database], object]
#: Writes kept at most; beyond it the oldest facts are still answered, their writes dropped.
MAX_WRITES = 10_000


@dataclass(frozen=True)
class _Event:
    at: float
    document_id: str
    source_name: str | None
    paid: bool


@dataclass
class Unwritten:
    """The documents, answers and writes of this process the file has not taken yet."""

    results: dict[str, StoredResult] = field(default_factory=dict[str, StoredResult])
    events: list[_Event] = field(default_factory=list[_Event])
    writes: list[Write] = field(default_factory=list[Write])

    def __bool__(self) -> bool:
        return bool(self.writes)

    def keep(self, write: Write) -> None:
        if len(self.writes) >= MAX_WRITES:
            del self.writes[0]
        self.writes.append(write)

    def clear(self) -> None:
        self.results.clear()
        self.events.clear()
        self.writes.clear()

    # --- the facts ------------------------------------------------------------------------------

    def submitted(self, stored: StoredResult, *, at: float) -> None:
        self.results[stored.document_id] = stored
        self.events.append(_Event(at, stored.document_id, stored.source.name, paid=True))

    def answered(self, document_id: str, source_name: str | None, *, at: float) -> None:
        self.events.append(_Event(at, document_id, source_name, paid=False))

    def reported(self, report: DetectionReport, *, deep_analysis: bool, at: float) -> None:
        assert report.id is not None
        known = self.results.get(report.id)
        if known is not None:
            self.results[report.id] = replace(known, report=report, updated_at=at)
            return
        self.results[report.id] = StoredResult(
            document_id=report.id,
            source=report.source,
            deep_analysis=deep_analysis,
            preview=report.preview_url is not None,
            report=report,
            submitted_at=at,
            updated_at=at,
        )

    # --- reading them back ------------------------------------------------------------------

    def find(self, sha256: str, *, deep_analysis: bool, preview: bool) -> StoredResult | None:
        found = [
            r
            for r in self.results.values()
            if r.source.sha256 == sha256 and r.covers(deep_analysis=deep_analysis, preview=preview)
        ]
        return max(found, key=lambda r: r.submitted_at) if found else None

    def get(self, document_id: str) -> StoredResult | None:
        return self.results.get(document_id)

    def paid_since(self, start: float) -> int:
        """Paid detections not yet in the file, from `start` (wall-clock seconds) on."""
        return sum(1 for e in self.events if e.paid and e.at >= start)

    def history(self, limit: int) -> list[HistoryEntry]:
        entries: list[HistoryEntry] = []
        for event in reversed(self.events[-limit:]):
            stored = self.results.get(event.document_id)
            report = stored.report if stored is not None else None
            entries.append(
                HistoryEntry(
                    at=datetime.fromtimestamp(event.at, UTC),
                    id=event.document_id,
                    source_name=event.source_name,
                    verdict=report.verdict if report else None,
                    ai_score=report.ai_score if report else None,
                    status=report.status if report else "pending",
                    complete=bool(report and report.complete),
                    cached=not event.paid,
                    simulated=bool(report and report.simulated),
                )
            )
        return entries
