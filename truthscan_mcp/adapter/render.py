"""Short plain-text renderings of results, for a model to read (and a person in a terminal).

Some MCP clients drop `structuredContent` and show the model only the text block, so the
text must carry everything essential — verdict, score, confidence, reasoning, indicators,
recommendations, heatmap link, id, next step — while staying short: every character here is
a token the assistant pays for in every turn that follows.
"""

from __future__ import annotations

from truthscan_mcp.models import BatchResult, Credits, DetectionReport, Health

_MAX_REASONING = 600
_MAX_ITEMS = 4
#: The text block's budget (bench/tokens.py): the model re-reads a tool result every turn.
MAX_REPORT_CHARS = 1500
#: (reasoning chars, items per list, chars per item, notes, chars per note), loosest first; the
#: first that fits is used.
_LEVELS = (
    (_MAX_REASONING, _MAX_ITEMS, 120, 3, 200),
    (500, 4, 100, 3, 200),
    (400, 3, 100, 3, 160),
    (320, 2, 80, 2, 140),
    (240, 2, 60, 2, 120),
    (160, 1, 60, 1, 100),
)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _items(values: list[str], limit: int = _MAX_ITEMS, width: int = 120) -> str:
    shown = [_clip(v, width) for v in values[:limit]]
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return "; ".join(shown) + more


def render_report(report: DetectionReport, heatmap_words: str | None = None) -> str:
    """Within MAX_REPORT_CHARS always: a long report is cut in its reasoning and lists (every
    line stays, so nothing essential goes missing), loosest cut first; should even the tightest
    cut not fit (very long URLs or names), the middle lines give way to the verdict, the framing,
    the id and the next step. `heatmap_words` says where the heatmap is hot, for clients whose
    model cannot see the attached image."""
    lines: list[str] = []
    for level in _LEVELS:
        lines = _render_report(report, heatmap_words, *level)
        if len("\n".join(lines)) <= MAX_REPORT_CHARS:
            return "\n".join(lines)
    return _fit(lines, MAX_REPORT_CHARS)


def _fit(lines: list[str], limit: int) -> str:
    """The first two lines (verdict, framing) and the last two (id, next step) whole when they
    fit, then as many middle lines as still fit, in order; a line never fits half."""
    keep = min(2, len(lines))
    head, tail = lines[:keep], lines[max(keep, len(lines) - 2) :]
    middle = lines[keep : max(keep, len(lines) - 2)]
    essential = [_clip(line, limit // 4) for line in (*head, *tail)]
    budget = limit - sum(len(line) + 1 for line in essential)
    shown: list[str] = []
    for line in middle:
        if len(line) + 1 <= budget:
            shown.append(line)
            budget -= len(line) + 1
    return "\n".join([*essential[: len(head)], *shown, *essential[len(head) :]])[:limit]


def _render_report(
    report: DetectionReport,
    heatmap_words: str | None,
    max_reasoning: int,
    max_items: int,
    width: int,
    max_notes: int,
    note_width: int,
) -> list[str]:
    lines: list[str] = []
    tag = " [SIMULATED — sandbox, not a real TruthScan verdict]" if report.simulated else ""
    cached = " (from local cache, no credits spent)" if report.cached else ""
    name = f" for {_clip(report.source.name, 80)}" if report.source.name else ""
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
        if report.tier:
            score += f" ({report.tier} band)"
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
        parts.append(f"ML model: {_clip(sig.ml_model.label or '?', 80)}{ml_score}")
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
            head += f" ({_clip(', '.join(str(x) for x in extra), 80)})"
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
        words = f" — {heatmap_words}" if heatmap_words else ""
        lines.append(f"Heatmap{words}: {report.heatmap_url}")
    elif report.heatmap_status in ("pending", "failed"):
        lines.append(f"Heatmap: {report.heatmap_status}.")
    if report.preview_url:
        lines.append(f"Preview: {report.preview_url}")
    for warning in report.warnings[:max_notes]:
        lines.append(f"Note: {_clip(warning, note_width)}")
    state = "complete" if report.complete else "INCOMPLETE"
    lines.append(f"id: {report.id} ({state}, {report.elapsed_seconds:.1f}s)")
    if report.next_step:
        lines.append(f"Next step: {report.next_step}")
    return lines


def render_credits(credits: Credits) -> str:
    tag = " [SIMULATED sandbox account]" if credits.simulated else ""
    return (
        f"TruthScan credits: {credits.credits} available "
        f"({credits.base_credits} base + {credits.boost_credits} boost){tag}. "
        "Each detect_image of new image bytes spends credits; cached results spend none."
    )


def render_health(health: Health) -> str:
    if health.reachable:
        state = f"{health.status or 'unknown status'}, reachable in {health.latency_ms:.0f} ms"
    else:
        state = f"UNREACHABLE ({health.error or 'no answer'})"
    key = "configured" if health.api_key_configured else "NOT configured (set TRUTHSCAN_API_KEY)"
    mode = "sandbox simulator (verdicts are simulated)" if health.sandbox else "live TruthScan API"
    return f"TruthScan: {state}. Mode: {mode}. API key: {key}. truthscan-mcp {health.server_version}."


def render_batch(result: BatchResult) -> str:
    """A summary line and a compact table, one row per image with its id in full for get_result —
    within MAX_REPORT_CHARS: rows that do not fit are counted, not listed (they are all in the
    structured result's `rows`), so a 100-image batch costs the model no more than one report."""
    summary = result.totals
    counts = ", ".join(
        f"{n} {verdict}" for verdict, n in sorted(summary.verdicts.items(), key=lambda x: -x[1])
    )
    parts = [counts or "no verdicts"]
    if summary.errors:
        parts.append(f"{summary.errors} error{'s' if summary.errors != 1 else ''}")
    if summary.incomplete:
        parts.append(f"{summary.incomplete} unfinished")
    spent = f"{summary.credits_spent} credits" if summary.credits_spent is not None else "credits unknown"
    tag = " [SIMULATED — sandbox verdicts]" if result.simulated else ""
    head = [
        f"Batch of {summary.total} images: {'; '.join(parts)}.{tag}",
        f"Paid detections: {summary.detections_paid} ({spent}); free (cache/duplicates): {summary.cached}. "
        "Scores are probabilities, not proof.",
        "#  | verdict | AI score | confidence | image | id",
    ]
    tail = [f"Note: {_clip(warning, 160)}" for warning in result.warnings[:2]]
    if result.next_step:
        tail.append(f"Next step: {_clip(result.next_step, 300)}")
    rows = _batch_rows(result)
    budget = MAX_REPORT_CHARS - len("\n".join([*head, *tail])) - 1
    shown: list[str] = []
    for number, line in enumerate(rows, start=1):
        # room for this row, and for the line saying how many are not shown
        reserve = 0 if number == len(rows) else len(_not_listed(number + 1, len(rows))) + 1
        if len(line) + 1 + reserve > budget:
            break
        shown.append(line)
        budget -= len(line) + 1
    if len(shown) < len(rows):
        shown.append(_not_listed(len(shown) + 1, len(rows)))
    return "\n".join([*head, *shown, *tail])


def _not_listed(first: int, last: int) -> str:
    return (
        f"… rows {first}–{last} not listed here to keep this short: every row "
        "(verdict, score, id) is in the structured result's `rows`."
    )


def _batch_rows(result: BatchResult) -> list[str]:
    numbers: dict[str, int] = {}
    for number, row in enumerate(result.rows, start=1):
        numbers.setdefault(row.source, number)
    lines: list[str] = []
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
    return lines
