"""The pieces that keep answers whole in every client, without a server: the score's tier, the
text budget in its worst cases, and the heatmap read in words (issue 16)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from truthscan_mcp.adapter.heatmap_words import describe_heatmap
from truthscan_mcp.adapter.render import MAX_REPORT_CHARS, render_batch, render_report
from truthscan_mcp.models import (
    Analysis,
    BatchResult,
    BatchRow,
    BatchTotals,
    DetectionReport,
    ReportSource,
    Signal,
    Signals,
)
from truthscan_mcp.sandbox.fake_heatmap import encode_png_rgb

UUID = "00fee5ff-a55b-42fb-b7c7-d14f05ae0769"


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (0, "Real"),
        (19.99, "Real"),
        (20, "Likely Real"),
        (49.9, "Likely Real"),
        (50, "Likely Synthetic"),
        (79.9, "Likely Synthetic"),
        (80, "Synthetic"),
        (100, "Synthetic"),
        (None, None),
    ],
)
def test_the_tier_follows_truthscans_bands(score: float | None, tier: str | None) -> None:
    source = ReportSource(kind="id")
    report = DetectionReport(id=UUID, status="done", complete=True, ai_score=score, source=source)

    assert report.tier == tier


def _worst_report() -> DetectionReport:
    long = "x" * 400
    listed = [f"{long} {i}" for i in range(30)]
    return DetectionReport(
        id=UUID,
        status="done",
        complete=False,
        verdict="AI Generated",
        ai_score=97.5,
        confidence=97.5,
        confidence_band="high",
        detection_step=3,
        signals=Signals(metadata=listed, ocr=Signal(label=long), ml_model=Signal(label=long, score=97.5)),
        analysis_status="done",
        analysis=Analysis(
            agreement=long,
            confidence=92,
            key_indicators=listed,
            reasoning="Signs of generation. " * 200,
            visual_patterns=listed,
            recommendations=listed,
        ),
        heatmap_status="ready",
        heatmap_url="https://storage.example/heatmaps/x.png?" + "signature=abc&" * 60,
        preview_url="https://storage.example/previews/x.png?" + "signature=abc&" * 60,
        source=ReportSource(kind="path", name="n" * 300 + ".png"),
        warnings=[long] * 10,
        next_step=f"Call get_result with id {UUID} in a minute to get the deep analysis.",
    )


def test_the_worst_report_stays_within_the_budget_with_verdict_framing_id_and_next_step() -> None:
    report = _worst_report()

    text = render_report(report, "concentrated in the upper-left and centre")

    assert len(text) <= MAX_REPORT_CHARS
    for essential in ("AI Generated", "probability, not proof", f"id: {UUID}", "Next step: Call get_result"):
        assert essential in text


def test_a_hundred_row_batch_with_long_names_and_errors_stays_within_the_budget() -> None:
    rows = [
        BatchRow(source=f"/photos/{'n' * 200}-{i}.png", name=f"{'n' * 200}-{i}.png", error="e" * 300)
        if i % 3 == 0
        else BatchRow(source=f"/p/{i}.png", verdict="Real", ai_score=10, id=UUID, complete=True)
        for i in range(100)
    ]
    totals = BatchTotals(
        total=100,
        complete=66,
        incomplete=0,
        errors=34,
        verdicts={"Real": 66},
        detections_paid=66,
        credits_spent=66,
        cached=0,
    )
    result = BatchResult(rows=rows, totals=totals, warnings=["w" * 500] * 5, next_step="s" * 800)

    text = render_batch(result)

    assert len(text) <= MAX_REPORT_CHARS
    assert text.startswith('Batch of 100 images: TruthScan says: 66 × "Real"; 34 errors.')
    assert "not listed here" in text
    assert "`rows`" in text


def _png(
    mode: str, size: tuple[int, int], hot: tuple[int, int, int, int], cold: object, box: tuple[int, ...]
) -> bytes:
    image = Image.new(mode, size, cold)  # pyright: ignore[reportArgumentType]
    image.paste(hot[: len(image.getbands())], box)  # pyright: ignore[reportArgumentType]
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_red_spot_on_blue_in_the_upper_left_is_named() -> None:
    png = _png("RGB", (90, 90), (200, 0, 0, 255), (0, 0, 160), (0, 0, 30, 30))

    assert describe_heatmap(png) == "concentrated in the upper-left"


def test_two_hot_cells_of_a_grey_heatmap_are_both_named() -> None:
    image = Image.new("L", (90, 90), 10)
    image.paste(250, (0, 0, 30, 30))
    image.paste(250, (30, 30, 60, 60))
    out = io.BytesIO()
    image.save(out, "PNG")

    assert describe_heatmap(out.getvalue()) == "concentrated in the upper-left and centre"


def test_a_transparent_overlay_counts_only_where_it_is_opaque() -> None:
    png = _png("RGBA", (90, 90), (255, 0, 0, 255), (255, 0, 0, 0), (60, 60, 90, 90))

    assert describe_heatmap(png) == "concentrated in the lower-right"


def test_the_sandbox_heatmap_format_is_read() -> None:
    width = height = 30
    hot, cold = bytes((128, 0, 0)), bytes((0, 0, 128))  # the ends of the ramp: dark red, dark blue
    pixels = b"".join(hot if x >= 20 and y < 10 else cold for y in range(height) for x in range(width))

    assert describe_heatmap(encode_png_rgb(width, height, pixels)) == "concentrated in the upper-right"


def test_bytes_that_are_not_an_image_get_no_description() -> None:
    assert describe_heatmap(b"not a png at all") is None


def test_a_heatmap_too_large_to_decode_safely_gets_no_description() -> None:
    image = Image.new("L", (5000, 4000), 0)  # 20 million pixels, a few KB compressed
    out = io.BytesIO()
    image.save(out, "PNG")

    assert len(out.getvalue()) < 100_000
    assert describe_heatmap(out.getvalue()) is None
