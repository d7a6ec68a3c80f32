"""Report assembly (`detection.reporting`): pure functions from TruthScan's document to the report."""

from __future__ import annotations

import json

from truthscan_mcp.api.wire import ApiDocument
from truthscan_mcp.detection.reporting import build_report
from truthscan_mcp.models import DetectionReport, ReportSource

DOC_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
SOURCE = ReportSource(kind="path", name="photo.jpg")


def report_of(doc: ApiDocument | None, *, expect_analysis: bool = False) -> DetectionReport:
    return build_report(
        DOC_ID,
        doc,
        source=SOURCE,
        elapsed=1.23456,
        expect_analysis=expect_analysis,
        include_heatmap=False,
        simulated=True,
        waited=10,
    )


def test_a_document_truthscan_failed_to_process_carries_its_reason_in_failure_reason() -> None:
    report = report_of(ApiDocument(id=DOC_ID, status="failed", error_message="corrupt image data"))

    assert (
        report.failure_reason
        == 'TruthScan could not process the image (TruthScan says: "corrupt image data").'
    )
    assert report.failure_reason in report.warnings, "the model still reads why"
    assert report.complete
    assert report.next_step is not None
    assert "force=true" in report.next_step


def test_failure_reason_is_internal_absent_from_the_dump_and_the_json_schema() -> None:
    report = report_of(ApiDocument(id=DOC_ID, status="failed"))

    assert report.failure_reason == "TruthScan could not process the image (no reason given)."
    assert "failure_reason" not in report.model_dump(mode="json")
    assert "failure_reason" not in json.loads(report.model_dump_json())
    for mode in ("validation", "serialization"):
        assert "failure_reason" not in DetectionReport.model_json_schema(mode=mode)["properties"]


def test_a_successful_document_has_no_failure_reason() -> None:
    report = report_of(ApiDocument(id=DOC_ID, status="done", verdict="Real", ai_score=12.0))

    assert report.failure_reason is None
    assert report.complete
    assert (report.verdict, report.analysis_status) == ("Real", "not_requested")


def test_nothing_seen_yet_is_a_pending_report_that_says_how_to_fetch_the_rest() -> None:
    report = report_of(None, expect_analysis=True)

    assert (report.status, report.complete, report.analysis_status) == ("pending", False, "pending")
    assert report.elapsed_seconds == 1.235
    assert report.next_step is not None
    assert f'"{DOC_ID}"' in report.next_step
    assert "10s" in report.next_step
