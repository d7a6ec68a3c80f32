"""Short plain-text renderings of results, for a model to read (and a person in a terminal).

Some MCP clients drop `structuredContent` and show the model only the text block, so the
text must carry everything essential — verdict, score, confidence, reasoning, indicators,
recommendations, heatmap link, id, next step — while staying short: every character here is
a token the assistant pays for in every turn that follows.
"""

from __future__ import annotations

from truthscan_mcp.models import BatchResult, Credits, DetectionReport, Health
from truthscan_mcp.sanitize import counted

_MAX_REASONING = 600
_MAX_ITEMS = 4
#: The text block's budget (bench/tokens.py): the model re-reads a tool result every turn.
MAX_REPORT_CHARS = 1500
#: (reasoning chars, items per list, chars per item), loosest first; the first that fits is used.
_LEVELS = ((_MAX_REASONING, _MAX_ITEMS, 120), (500, 4, 100), (400, 3, 100), (320, 2, 80), (240, 2, 60))


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _items(values: list[str], limit: int = _MAX_ITEMS, width: int = 120) -> str:
    shown = [_clip(v, width) for v in values[:limit]]
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return "; ".join(shown) + more


def render_report(report: DetectionReport) -> str:
    """Within MAX_REPORT_CHARS when possible: a long report is cut in its reasoning and lists
    (every line stays, so nothing essential goes missing), loosest cut first."""
    text = ""
    for max_reasoning, max_items, width in _LEVELS:
        text = _render_report(report, max_reasoning, max_items, width)
        if len(text) <= MAX_REPORT_CHARS:
            break
    return text


def _render_report(report: DetectionReport, max_reasoning: int, max_items: int, width: int) -> str:
    lines: list[str] = []
    tag = " [SIMULATED — sandbox, not a real TruthScan verdict]" if report.simulated else ""
    cached = " (from local cache, no credits spent)" if report.cached else ""
    name = f" for {report.source.name}" if report.source.name else ""
    if report.status == "failed":
        lines.append(f"Detection FAILED{name}{tag}: TruthScan could not process the image.")
    elif report.verdict is not None:
        conf = ""
        if report.confidence is not None:
            conf = f", confidence {report.confidence:.0f}"
            if report.confidence_band:
                conf += f" ({report.confidence_band})"
        elif report.confidence_band:
            conf = f", confidence {report.confidence_band}"
        score = f"AI score {report.ai_score:.1f}/100" if report.ai_score is not None else "no score"
        lines.append(f"Verdict{name}: {report.verdict} — {score}{conf}{tag}{cached}")
    else:
        lines.append(f"No verdict yet{name} (status: {report.status}){tag}")
    lines.append(
        "The score is a probability, not proof: quote the reasoning, do not overstate it."
        if report.verdict is not None
        else f"TruthScan is still {report.status}."
    )
    step = f"step {report.detection_step}/3" if report.detection_step else None
    sig = report.signals
    parts: list[str] = []
    if sig.ml_model and (sig.ml_model.label or sig.ml_model.score is not None):
        ml_score = f" {sig.ml_model.score:.1f}" if sig.ml_model.score is not None else ""
        parts.append(f"ML model: {sig.ml_model.label or '?'}{ml_score}")
    if sig.ocr and sig.ocr.label:
        parts.append(f"OCR: {_clip(sig.ocr.label, 80)}")
    if sig.metadata:
        parts.append(f"metadata: {_items(sig.metadata, min(2, max_items), width)}")
    if parts or step:
        lines.append("Signals" + (f" ({step})" if step else "") + ": " + " | ".join(parts))
    analysis = report.analysis
    if analysis is not None:
        head = "Deep analysis"
        extra = [
            x
            for x in (
                analysis.agreement and f"agreement {analysis.agreement}",
                analysis.confidence is not None and f"confidence {analysis.confidence:.0f}",
            )
            if x
        ]
        if extra:
            head += f" ({', '.join(str(x) for x in extra)})"
        if analysis.reasoning:
            lines.append(f"{head}: {_clip(analysis.reasoning, max_reasoning)}")
        else:
            lines.append(f"{head}.")
        if analysis.key_indicators:
            lines.append(f"Key indicators: {_items(analysis.key_indicators, max_items, width)}")
        if analysis.visual_patterns:
            lines.append(f"Visual patterns: {_items(analysis.visual_patterns, min(3, max_items), width)}")
        if analysis.recommendations:
            lines.append(f"Recommendations: {_items(analysis.recommendations, min(3, max_items), width)}")
    elif report.analysis_status == "pending":
        lines.append("Deep analysis: still pending.")
    elif report.analysis_status in ("skipped", "failed"):
        lines.append(f"Deep analysis: {report.analysis_status}.")
    if report.heatmap_url and report.heatmap_status == "ready":
        lines.append(f"Heatmap: {report.heatmap_url}")
    elif report.heatmap_status in ("pending", "failed"):
        lines.append(f"Heatmap: {report.heatmap_status}.")
    if report.preview_url:
        lines.append(f"Preview: {report.preview_url}")
    for warning in report.warnings[:3]:
        lines.append(f"Note: {_clip(warning, 200)}")
    state = "complete" if report.complete else "INCOMPLETE"
    lines.append(f"id: {report.id} ({state}, {report.elapsed_seconds:.1f}s)")
    if report.next_step:
        lines.append(f"Next step: {report.next_step}")
    return "\n".join(lines)


def render_credits(credits: Credits) -> str:
    tag = " [SIMULATED sandbox account]" if credits.simulated else ""
    return (
        f"TruthScan credits: {credits.credits} available "
        f"({credits.base_credits} base + {credits.boost_credits} boost){tag}. "
        "Each detect_image of new image bytes spends credits; cached results spend none."
    )


def render_health(health: Health, add_key_hint: str = "Set TRUTHSCAN_API_KEY to add one.") -> str:
    """`add_key_hint` says how to add a key in the words of the way the server was started."""
    if health.reachable:
        state = f"{health.status or 'unknown status'}, reachable in {health.latency_ms:.0f} ms"
    else:
        state = f"UNREACHABLE ({health.error or 'no answer'})"
    key = "configured" if health.api_key_configured else "NOT configured"
    mode = "sandbox simulator (verdicts are simulated)" if health.sandbox else "live TruthScan API"
    text = f"TruthScan: {state}. Mode: {mode}. API key: {key}. truthscan-mcp {health.server_version}."
    return text if health.api_key_configured or health.sandbox else f"{text} {add_key_hint}"


def render_batch(result: BatchResult) -> str:
    """A summary line and a compact table: one row per image, ids in full for get_result."""
    summary = result.totals
    counts = ", ".join(
        f"{n} {verdict}" for verdict, n in sorted(summary.verdicts.items(), key=lambda x: -x[1])
    )
    parts = [counts or "no verdicts"]
    if summary.errors:
        parts.append(counted(summary.errors, "error"))
    if summary.incomplete:
        parts.append(f"{summary.incomplete} unfinished")
    spent = (
        counted(summary.credits_spent, "credit") if summary.credits_spent is not None else "credits unknown"
    )
    tag = " [SIMULATED — sandbox verdicts]" if result.simulated else ""
    lines = [
        f"Batch of {counted(summary.total, 'image')}: {'; '.join(parts)}.{tag}",
        f"Paid detections: {summary.detections_paid} ({spent}); free (cache/duplicates): {summary.cached}. "
        "Scores are probabilities, not proof.",
        "#  | verdict | AI score | confidence | image | id",
    ]
    numbers: dict[str, int] = {}
    for number, row in enumerate(result.rows, start=1):
        numbers.setdefault(row.source, number)
    for number, row in enumerate(result.rows, start=1):
        name = _clip(row.name or row.source, 40)
        if row.error:
            lines.append(f"{number} | ERROR | - | - | {name} | {row.id or '-'} | {_clip(row.error, 140)}")
            continue
        score = f"{row.ai_score:.0f}" if row.ai_score is not None else "-"
        verdict = row.verdict or ("pending" if not row.complete else "-")
        extra = " (cached)" if row.cached and not row.duplicate_of else ""
        if row.duplicate_of:
            first = numbers.get(row.duplicate_of)
            extra = f" (same image as #{first})" if first else f" (same as {_clip(row.duplicate_of, 40)})"
        lines.append(
            f"{number} | {verdict}{extra} | {score} | {row.confidence_band or '-'} | {name} | {row.id or '-'}"
        )
    for warning in result.warnings[:3]:
        lines.append(f"Note: {_clip(warning, 200)}")
    if result.next_step:
        lines.append(f"Next step: {result.next_step}")
    return "\n".join(lines)
