"""Rows of the PostgreSQL store read back as the detector's and the history's objects."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from truthscan_mcp.detection.store import StoredResult
from truthscan_mcp.models import SOURCE_KINDS, DetectionReport, HistoryEntry, ReportSource, SourceKind

logger = logging.getLogger(__name__)

RESULT_COLUMNS = (
    "document_id, sha256, source_kind, source_name, media_type, size, location, final_url, read_at, "
    "deep_analysis, preview, report, submitted_at, updated_at, completed_at"
)
#: Report fields that describe one answer rather than the document; set afresh on every answer.
PER_ANSWER_FIELDS = frozenset({"source", "cached", "elapsed_seconds"})


def _report(body: str | None, source: ReportSource, document_id: str) -> DetectionReport | None:
    if body is None:
        return None
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        fields: dict[str, Any] = {k: v for k, v in data.items() if k not in PER_ANSWER_FIELDS}  # pyright: ignore[reportUnknownVariableType]
        return DetectionReport.model_validate({**fields, "source": source, "cached": False})
    except (ValueError, ValidationError):
        # Unreadable (an older shape): the id is still good, so callers query it again.
        logger.debug("stored report of %s is unreadable; it will be fetched again", document_id)
        return None


def stored(row: tuple[Any, ...]) -> StoredResult:
    (doc_id, sha256, kind, name, media_type, size, location, final_url, read_at) = row[:9]
    deep, preview, body, submitted_at, updated_at, completed_at = row[9:]
    source_kind: SourceKind = kind if kind in SOURCE_KINDS else "id"
    read = datetime.fromtimestamp(float(read_at), UTC) if read_at is not None else None
    source = ReportSource(
        kind=source_kind,
        name=name,
        media_type=media_type,
        bytes=size,
        sha256=sha256,
        location=location,
        final_url=final_url,
        read_at=read,
    )
    return StoredResult(
        document_id=str(doc_id),
        source=source,
        deep_analysis=bool(deep),
        preview=bool(preview),
        report=_report(body, source, str(doc_id)),
        submitted_at=float(submitted_at),
        updated_at=float(updated_at),
        completed_at=float(completed_at) if completed_at is not None else None,
    )


def history_entry(row: tuple[Any, ...]) -> HistoryEntry:
    at, doc_id, name, paid, verdict, score, status, complete, simulated = row
    return HistoryEntry(
        at=datetime.fromtimestamp(float(at), UTC),
        id=str(doc_id),
        source_name=name,
        verdict=verdict,
        ai_score=score,
        status=status,
        complete=bool(complete),
        cached=not paid,
        simulated=bool(simulated),
    )
