"""What a detection answers: reports assembled from TruthScan's documents, as pure functions.

Apart from the detector so the wording the model reads (warnings, next steps) and the rules for
when a report is complete are in one place, testable without a network, and so a report says
why it failed in a field (`failure_reason`) instead of in text a caller has to search.
"""

from __future__ import annotations

from truthscan_mcp.api.wire import ApiDocument
from truthscan_mcp.detection.store import StoredResult
from truthscan_mcp.media.sources import LoadedImage
from truthscan_mcp.models import AnalysisStatus, DetectionReport, Provenance, ReportSource
from truthscan_mcp.sanitize import clean_line, truthscan_says


def build_report(
    doc_id: str,
    doc: ApiDocument | None,
    *,
    source: ReportSource,
    elapsed: float,
    expect_analysis: bool | None,
    include_heatmap: bool,
    simulated: bool,
    warnings: list[str] | None = None,
    waited: float = 0.0,
    provenance: Provenance | None = None,
) -> DetectionReport:
    """The report of `doc` (None: nothing seen yet, so pending) as this call asked for it."""
    warnings = list(warnings or [])
    if doc is None:
        doc = ApiDocument(id=doc_id, status="pending")
    warnings.extend(doc.api_warnings)
    analysis_status = _analysis_status(doc, expect_analysis)
    if doc.status == "done" and analysis_status == "done" and doc.analysis is None:
        warnings.append("TruthScan marked the deep analysis ready but sent no reasoning.")
    if analysis_status == "failed":
        warnings.append("TruthScan's deep analysis failed; the verdict stands without its reasoning.")
    if doc.status == "done" and expect_analysis and analysis_status == "skipped":
        warnings.append("TruthScan did not provide deep analysis for this image.")
    if doc.heatmap_status == "failed":
        warnings.append("TruthScan could not render a heatmap for this image.")

    settled = doc.status == "failed" or (doc.status == "done" and analysis_status != "pending")
    complete = settled and not (include_heatmap and doc.heatmap_status == "pending")
    failure_reason: str | None = None
    if doc.status == "failed":
        said = truthscan_says(doc.error_message) if doc.error_message else "no reason given"
        failure_reason = f"TruthScan could not process the image ({said})."
        warnings.append(failure_reason)
    return DetectionReport(
        id=doc_id,
        status=doc.status,
        complete=complete,
        verdict=doc.verdict,
        ai_score=doc.ai_score,
        confidence=doc.confidence,
        confidence_band=doc.confidence_band,
        detection_step=doc.detection_step,
        signals=doc.signals,
        analysis_status=analysis_status,
        analysis=doc.analysis,
        heatmap_status=doc.heatmap_status,
        heatmap_url=doc.heatmap_url,
        preview_url=doc.preview_url,
        source=source,
        provenance=provenance,
        simulated=simulated,
        elapsed_seconds=round(elapsed, 3),
        warnings=warnings,
        next_step=_next_step(doc_id, doc, analysis_status, complete, waited),
        failure_reason=failure_reason,
    )


def _analysis_status(doc: ApiDocument, expect_analysis: bool | None) -> AnalysisStatus:
    if doc.analysis_status is None:
        if doc.status != "done" and expect_analysis:
            return "pending"
        return "skipped" if doc.status == "done" and expect_analysis else "not_requested"
    if doc.analysis_status == "skipped" and expect_analysis is False:
        return "not_requested"
    return doc.analysis_status


def _next_step(
    doc_id: str, doc: ApiDocument, analysis_status: AnalysisStatus, complete: bool, waited: float
) -> str | None:
    if doc.status == "failed":
        return (
            "TruthScan could not process this image. Check that it is a real, uncorrupted image of "
            "1 KB to 10 MB, then run detect_image again with force=true (that spends credits again)."
        )
    if not complete:
        what = "the verdict" if doc.status != "done" else "the deep analysis"
        if doc.status == "done" and analysis_status != "pending":
            what = "the heatmap"
        return (
            f"Not finished after waiting {waited:g}s (TruthScan is still working on {what}). Call "
            f'get_result with id "{doc_id}" and wait_seconds=30 to fetch the rest; that costs no credits.'
        )
    if doc.heatmap_status == "pending":
        return (
            f'The heatmap is still rendering: call get_result with id "{doc_id}" and '
            "include_heatmap=true in a minute to see it (no credits)."
        )
    return None


def unsettled(report: DetectionReport) -> bool:
    """Whether TruthScan may still add to a stored report; then its id is queried again (free)
    instead of the stored copy being served."""
    return (
        report.status in ("pending", "analyzing")
        or report.analysis_status == "pending"
        or report.heatmap_status == "pending"
    )


def source_of(image: LoadedImage) -> ReportSource:
    # A file name or URL is outside text too: cleaned here, it is clean in every report and row.
    return ReportSource(
        kind=image.kind,
        name=clean_line(image.name),
        media_type=image.media_type,
        bytes=image.size,
        sha256=image.sha256,
        location=clean_line(image.location) if image.location else None,
        final_url=clean_line(image.final_url) if image.final_url else None,
        read_at=image.read_at,
    )


def as_answer(
    report: DetectionReport, *, source: ReportSource, elapsed: float, provenance: Provenance | None = None
) -> DetectionReport:
    """A stored or shared report as this call's answer: its own source and timing, nothing spent;
    `provenance`, when this call read the bytes, replaces the one stored with the report."""
    update: dict[str, object] = {"cached": True, "source": source, "elapsed_seconds": round(elapsed, 3)}
    if provenance is not None:
        update["provenance"] = provenance
    return report.model_copy(update=update)


def with_notes(report: DetectionReport, notes: list[str]) -> DetectionReport:
    """`notes` first: they say what this call paid for, which matters more than TruthScan's."""
    if not notes:
        return report
    return report.model_copy(update={"warnings": [*notes, *report.warnings]})


def with_warning(report: DetectionReport, warning: str) -> DetectionReport:
    return report.model_copy(update={"warnings": [*report.warnings, warning]})


def paid_again_note(weaker: StoredResult, *, deep_analysis: bool, preview: bool) -> str:
    """Why a known image was paid for again: it was checked before without what is asked now."""
    missing = [
        what
        for what, had, wanted in (
            ("deep analysis", weaker.deep_analysis, deep_analysis),
            ("a preview", weaker.preview, preview),
        )
        if wanted and not had
    ]
    return (
        f"This image was checked before without {' or '.join(missing)} (id "
        f"{weaker.document_id}), so it was submitted again with it: that spent credits once."
    )


def score_text(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def done_message(report: DetectionReport) -> str:
    if report.status == "failed":
        return "TruthScan could not process the image"
    verdict = truthscan_says(report.verdict, max_length=80) if report.verdict else "no verdict"
    return f"Done: {verdict} (AI score {score_text(report.ai_score)})"
