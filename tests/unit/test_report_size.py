"""A report's size is a cost the assistant pays on every later turn: it stays bounded.

The budgets (text block ≤ 1,500 characters, structuredContent ≤ 4 KB) are measured end to end
by bench/tokens.py; these tests pin the mechanisms that keep them.
"""

from __future__ import annotations

import json

from truthscan_mcp.adapter.render import MAX_REPORT_CHARS, render_report
from truthscan_mcp.api.wire import parse_document
from truthscan_mcp.models import Analysis, DetectionReport, ReportSource, Signal, Signals

UUID = "00fee5ff-a55b-42fb-b7c7-d14f05ae0769"


def _report(*, reasoning: str, items: int, item: str) -> DetectionReport:
    listed = [f"{item} {i}" for i in range(items)]
    return DetectionReport(
        id=UUID,
        status="done",
        complete=True,
        verdict="AI Generated",
        ai_score=97.5,
        confidence=97.5,
        confidence_band="high",
        detection_step=3,
        signals=Signals(
            metadata=listed,
            ocr=Signal(label="OCR did not detect AI", score=0.0),
            ml_model=Signal(label="AI Generated", score=97.5),
        ),
        analysis_status="done",
        analysis=Analysis(
            agreement="strong",
            confidence=92,
            key_indicators=listed,
            reasoning=reasoning,
            visual_patterns=listed,
            recommendations=listed,
        ),
        heatmap_status="ready",
        heatmap_url=f"https://ai-image-detector-prod.nyc3.digitaloceanspaces.com/heatmaps/{UUID}.png",
        source=ReportSource(
            kind="path", name="portrait-final-v2.png", media_type="image/png", bytes=2_000_000
        ),
        simulated=True,
    )


def test_a_short_report_is_rendered_whole() -> None:
    report = _report(reasoning="Smooth skin and inconsistent lighting.", items=2, item="Short indicator")

    text = render_report(report)

    assert "Smooth skin and inconsistent lighting." in text
    assert "Short indicator 1" in text
    assert "…" not in text


def test_the_longest_report_still_fits_the_text_budget_with_every_line() -> None:
    report = _report(
        reasoning="The image shows clear signs of AI generation. " * 40, items=20, item="x" * 300
    )

    text = render_report(report)

    assert len(text) <= MAX_REPORT_CHARS
    for line in ("Verdict for", "Signals", "Deep analysis", "Key indicators", "Visual patterns"):
        assert line in text
    for line in ("Recommendations", "Heatmap: https://", f"id: {UUID}"):
        assert line in text


def test_metadata_lines_beyond_eight_are_dropped_when_a_document_is_read() -> None:
    raw = {
        "id": UUID,
        "status": "done",
        "result": 90.2,
        "result_details": {"final_result": "AI Generated", "metadata": [f"line {i}" for i in range(30)]},
    }

    document = parse_document(raw, queried_id=UUID)

    assert document is not None
    assert document.signals.metadata == [f"line {i}" for i in range(8)]


def test_the_structured_report_of_a_long_analysis_stays_under_4_kb() -> None:
    raw = {
        "id": UUID,
        "status": "done",
        "result": 90.2,
        "result_details": {
            "final_result": "AI Generated",
            "metadata": [
                f"AI generator named in PNG text chunk 'Comment{i}': “{'y' * 90}”" for i in range(20)
            ],
            "analysis_results_status": "done",
            "analysis_results": {
                "agreement": "strong",
                "confidence": 92,
                "keyIndicators": ["Generation parameters in PNG text chunk 'parameters'"] * 4,
                "detailedReasoning": "The file carries a generator signature. " * 11,
                "visualPatterns": ["Uniform noise pattern typical of diffusion models"] * 2,
                "recommendations": ["Cross-reference with original source if available"] * 2,
            },
        },
    }
    document = parse_document(raw, queried_id=UUID)
    assert document is not None
    report = _report(reasoning="", items=0, item="").model_copy(
        update={"signals": document.signals, "analysis": document.analysis}
    )

    size = len(json.dumps(report.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False).encode())

    assert size <= 4096
