"""The response parser: every dialect TruthScan speaks becomes one ApiDocument."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truthscan_mcp.api.wire import (
    Presigned,
    parse_credits,
    parse_detect,
    parse_document,
    parse_presign,
)
from truthscan_mcp.errors import TruthScanError, UnexpectedResponseError
from truthscan_mcp.models import Credits

NESTED_DONE: dict[str, Any] = {
    "id": "00fee5ff-a55b-42fb-b7c7-d14f05ae0769",
    "status": "done",
    "result": 90.2371538185235,
    "result_details": {
        "is_valid": True,
        "detection_step": 3,
        "final_result": "AI Generated",
        "metadata": ["No Information Detected for Real/AI", "Could not find anything from ExifTool"],
        "metadata_basic_source": "null",
        "ocr": ["OCR did not detect AI", 0.0],
        "ml_model": ["AI Generated", 90.2371538185235],
        "confidence": 90.2371538185235,
        "heatmap_status": "ready",
        "heatmap_url": "https://storage.example/uploads/heat.png",
        "analysis_results_status": "done",
        "analysis_results": {
            "agreement": "strong",
            "confidence": 92,
            "keyIndicators": ["Unnaturally smooth skin texture"],
            "detailedReasoning": "The image shows clear signs of AI generation.",
            "visualPatterns": ["Uniform noise pattern"],
            "recommendations": ["Cross-reference with original source"],
        },
    },
    "preview_url": "https://storage.example/previews/p.png",
}

FLAT_DONE: dict[str, Any] = {
    "id": "77565038-9e3d-4e6a-8c80-e20785be5ee9",
    "status": "done",
    "result": 85.5,
    "final_result": "Not AI Generated",
    "confidence": "high",
    "detection_step": 3,
    "metadata": {"width": 1920, "height": 1080, "format": "JPEG", "size": 2456789},
    "ocr": {"text": "Extracted text", "confidence": 0.92},
}


def test_nested_document_reads_every_field() -> None:
    doc = parse_document(NESTED_DONE)
    assert doc is not None
    assert doc.status == "done"
    assert doc.verdict == "AI Generated"
    assert doc.ai_score == pytest.approx(90.2371538185235)
    assert doc.confidence_band == "high"
    assert doc.detection_step == 3
    assert doc.signals.ml_model is not None
    assert doc.signals.ml_model.label == "AI Generated"
    assert doc.signals.ocr is not None
    assert doc.signals.ocr.score == 0.0
    assert doc.analysis_status == "done"
    assert doc.analysis is not None
    assert doc.analysis.key_indicators == ["Unnaturally smooth skin texture"]
    assert doc.analysis.reasoning == "The image shows clear signs of AI generation."
    assert doc.heatmap_status == "ready"
    assert doc.heatmap_url == "https://storage.example/uploads/heat.png"
    assert doc.preview_url == "https://storage.example/previews/p.png"


def test_flat_document_reads_word_confidence_and_object_signals() -> None:
    doc = parse_document(FLAT_DONE)
    assert doc is not None
    assert doc.verdict == "Not AI Generated"
    assert doc.confidence is None
    assert doc.confidence_band == "high"
    assert any("width: 1920" in m for m in doc.signals.metadata)
    assert doc.signals.ocr is not None
    assert doc.signals.ocr.label == "Extracted text"
    assert doc.analysis_status is None  # the flat schema never gets one


def test_null_body_means_not_found() -> None:
    assert parse_document(None) is None


def test_snake_case_analysis_fields_are_read() -> None:
    raw = {
        "status": "done",
        "result_details": {
            "analysis_results_status": "ready",
            "analysis_results": {"key_indicators": "one indicator", "detailed_reasoning": "why"},
        },
    }
    doc = parse_document(raw, queried_id="abc")
    assert doc is not None
    assert doc.id == "abc"
    assert doc.analysis_status == "done"
    assert doc.analysis is not None
    assert doc.analysis.key_indicators == ["one indicator"]
    assert doc.analysis.reasoning == "why"


def test_ready_analysis_without_results_is_done_with_no_reasoning() -> None:
    doc = parse_document({"status": "done", "result_details": {"analysis_results_status": "ready"}})
    assert doc is not None
    assert doc.analysis_status == "done"
    assert doc.analysis is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pending", "pending"),
        ("analyzing", "analyzing"),
        ("done", "done"),
        ("failed", "failed"),
        ("error", "failed"),
    ],
)
def test_processing_statuses_are_normalised(raw: str, expected: str) -> None:
    doc = parse_document({"status": raw})
    assert doc is not None
    assert doc.status == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pending", "pending"),
        ("analyzing", "pending"),
        ("done", "done"),
        ("ready", "done"),
        ("skipped", "skipped"),
        ("failed", "failed"),
    ],
)
def test_analysis_statuses_are_normalised(raw: str, expected: str) -> None:
    doc = parse_document({"status": "done", "result_details": {"analysis_results_status": raw}})
    assert doc is not None
    assert doc.analysis_status == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [("pending", "pending"), ("ready", "ready"), ("failed", "failed")]
)
def test_heatmap_statuses_are_read(raw: str, expected: str) -> None:
    doc = parse_document({"status": "done", "result_details": {"heatmap_status": raw}})
    assert doc is not None
    assert doc.heatmap_status == expected


def test_absent_heatmap_is_none() -> None:
    doc = parse_document({"status": "done", "result_details": {}})
    assert doc is not None
    assert doc.heatmap_status is None


def test_numeric_strings_and_out_of_range_scores_are_clamped() -> None:
    doc = parse_document({"status": "done", "result": "150", "result_details": {"confidence": "-3"}})
    assert doc is not None
    assert doc.ai_score == 100.0
    assert doc.confidence == 0.0


def test_api_warnings_are_kept_as_text() -> None:
    doc = parse_document({"status": "done", "warnings": [{"type": "w", "label": "Low resolution"}]})
    assert doc is not None
    assert doc.api_warnings == ['TruthScan says: "Low resolution"']


def test_a_list_instead_of_a_document_is_an_unexpected_response() -> None:
    with pytest.raises(UnexpectedResponseError):
        parse_document([1, 2, 3])


def test_credits_are_read_in_camel_case() -> None:
    credits = parse_credits({"baseCredits": 10000, "boostCredits": 1000, "credits": 11000})
    assert (credits.base_credits, credits.boost_credits, credits.credits) == (10000, 1000, 11000)


def test_credits_without_figures_are_refused() -> None:
    with pytest.raises(UnexpectedResponseError):
        parse_credits({"hello": "world"})


def test_detect_without_id_says_it_was_not_resubmitted() -> None:
    with pytest.raises(UnexpectedResponseError, match="not resubmitted"):
        parse_detect({"status": "pending"})


def test_presign_needs_url_and_path() -> None:
    assert parse_presign({"presigned_url": "https://u/x", "file_path": "uploads/a.png"}) == Presigned(
        url="https://u/x", file_path="uploads/a.png"
    )
    with pytest.raises(UnexpectedResponseError):
        parse_presign({"status": "success"})


def _json(*, items: int, keys: int, leaves: int) -> st.SearchStrategy[Any]:
    """Any JSON value: lists of up to `items` entries, objects of up to `keys`, `leaves` scalars
    in all."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=items)
            | st.dictionaries(st.text(max_size=12), children, max_size=keys)
        ),
        max_leaves=leaves,
    )


json_values = _json(items=4, keys=6, leaves=30)

document_keys = st.sampled_from(
    [
        "id", "status", "result", "result_details", "final_result", "confidence", "detection_step",
        "metadata", "ocr", "ml_model", "heatmap_status", "heatmap_url", "analysis_results_status",
        "analysis_results", "preview_url", "warnings", "error_message",
    ]
)  # fmt: skip
#: what one field of a document may hold: any JSON, small (hypothesis spends its time building
#: values, and a field's parser sees the type and the first levels only)
field_values = _json(items=3, keys=3, leaves=6)
documentish = st.dictionaries(document_keys, field_values, max_size=10).map(
    lambda d: {
        **d,
        "result_details": d.get("result_details") if isinstance(d.get("result_details"), dict) else d,
    }
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_parses_to_a_valid_document_or_raises_our_error(raw: Any) -> None:
    try:
        doc = parse_document(raw)
    except TruthScanError:
        return
    if doc is not None:
        assert doc.status in ("pending", "analyzing", "done", "failed")
        assert doc.ai_score is None or 0 <= doc.ai_score <= 100


@settings(max_examples=300, deadline=None)
@given(documentish)
def test_arbitrary_document_shapes_parse_or_raise_our_errors(raw: dict[str, Any]) -> None:
    try:
        doc = parse_document(json.loads(json.dumps(raw, default=str)))
    except (TruthScanError, ValueError):
        return
    assert doc is not None
    assert doc.status in ("pending", "analyzing", "done", "failed")
    if doc.ai_score is not None:
        assert 0 <= doc.ai_score <= 100


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_gives_the_other_parsers_their_type_or_our_error(raw: Any) -> None:
    with contextlib.suppress(TruthScanError):
        assert isinstance(parse_credits(raw), Credits)
    with contextlib.suppress(TruthScanError):
        document_id = parse_detect(raw)
        assert isinstance(document_id, str)
        assert document_id
    with contextlib.suppress(TruthScanError):
        presigned = parse_presign(raw)
        assert isinstance(presigned.url, str)
        assert isinstance(presigned.file_path, str)
