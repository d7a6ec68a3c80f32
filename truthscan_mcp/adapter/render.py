"""Short plain-text renderings of results, for a model to read (and a person in a terminal).

Some MCP clients drop `structuredContent` and show the model only the text block, so the
text must carry everything essential — verdict, score, confidence, reasoning, indicators,
recommendations, heatmap link, id, next step — while staying short: every character here is
a token the assistant pays for in every turn that follows.

Every string that came from outside passes through `truthscan_mcp.sanitize` on its way into
the text — the reports are cleaned when built, this is the last gate — and reaches it quoted and
attributed, on one line, its own quotes escaped: all of TruthScan's words (verdict, labels,
agreement, reasoning, key indicators, visual patterns, recommendations) as `TruthScan says:
"…"`, what a file declares (camera, software, signer) as `the file says: "…"`, and names (a
file's, a URL's) as `"…"`. An instruction inside any of them reads as what its author wrote,
never as one of our lines. URLs are one percent-encoded token.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from truthscan_mcp.adapter.clip import clip
from truthscan_mcp.adapter.provenance_text import provenance_line
from truthscan_mcp.evidence.disagreement import disagreement
from truthscan_mcp.models import (
    Analysis,
    BatchResult,
    Credits,
    DetectionReport,
    ExportedReport,
    Health,
)
from truthscan_mcp.sanitize import (
    clean_line,
    clean_url,
    counted,
    named,
    page_says,
    quoted,
    truthscan_says,
    truthscan_says_all,
)

_MAX_REASONING = 600
_MAX_ITEMS = 4
#: The text block's budget (bench/tokens.py): the model re-reads a tool result every turn.
MAX_REPORT_CHARS = 1500


@dataclass(frozen=True)
class Cut:
    """How far a long report is cut to fit MAX_REPORT_CHARS (every line stays, only shorter)."""

    #: characters of TruthScan's reasoning
    reasoning: int
    #: items shown per list
    items: int
    #: characters per item
    width: int
    #: warnings shown
    notes: int
    #: characters per warning
    note_width: int


#: loosest first; the first that fits is used
_CUTS = (
    Cut(reasoning=_MAX_REASONING, items=_MAX_ITEMS, width=120, notes=3, note_width=200),
    Cut(reasoning=500, items=4, width=100, notes=3, note_width=200),
    Cut(reasoning=400, items=3, width=100, notes=3, note_width=160),
    Cut(reasoning=320, items=2, width=80, notes=2, note_width=140),
    Cut(reasoning=240, items=2, width=60, notes=2, note_width=120),
    Cut(reasoning=160, items=1, width=60, notes=1, note_width=100),
)


def _said(values: list[str], limit: int = _MAX_ITEMS, width: int = 120) -> str:
    """TruthScan's phrases, each quoted, under one attribution: `TruthScan says: "a"; "b" (+2 more)`."""
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return truthscan_says_all(values[:limit], max_length=width) + more


def render_report(report: DetectionReport, heatmap_words: str | None = None) -> str:
    """Within MAX_REPORT_CHARS always: a long report is cut in its reasoning and lists (every
    line stays, so nothing essential goes missing), loosest cut first; should even the tightest
    cut not fit (very long URLs or names), the middle lines give way to the verdict, the framing,
    the id and the next step. `heatmap_words` says where the heatmap is hot, for clients whose
    model cannot see the attached image."""
    lines: list[str] = []
    for cut in _CUTS:
        lines = _render_report(report, heatmap_words, cut)
        if len("\n".join(lines)) <= MAX_REPORT_CHARS:
            return "\n".join(lines)
    return _fit(lines, MAX_REPORT_CHARS)


def _fit(lines: list[str], limit: int) -> str:
    """The first two lines (verdict, framing) and the last two (id, next step) whole when they
    fit, then as many middle lines as still fit, in order; a line never fits half."""
    keep = min(2, len(lines))
    head, tail = lines[:keep], lines[max(keep, len(lines) - 2) :]
    middle = lines[keep : max(keep, len(lines) - 2)]
    essential = [clip(line, limit // 4) for line in (*head, *tail)]
    budget = limit - sum(len(line) + 1 for line in essential)
    shown: list[str] = []
    for line in middle:
        if len(line) + 1 <= budget:
            shown.append(line)
            budget -= len(line) + 1
    return "\n".join([*essential[: len(head)], *shown, *essential[len(head) :]])[:limit]


def _render_report(report: DetectionReport, heatmap_words: str | None, cut: Cut) -> list[str]:
    lines = [_verdict_line(report)]
    lines.append(
        "The score is a probability, not proof: quote the reasoning, do not overstate it."
        if report.verdict is not None
        else f"TruthScan is still {report.status}."
    )
    conflict = disagreement(report)
    if conflict:
        lines.append(conflict)
    signals = _signals(report, max(1, min(2, cut.items - 1)), cut.width)
    if signals:
        lines.append(signals)
    lines.extend(_analysis_lines(report, cut))
    lines.extend(_picture_lines(report, heatmap_words))
    if report.provenance is not None:
        lines.append(provenance_line(report.provenance))
    for warning in report.warnings[: cut.notes]:
        lines.append(f"Note: {clip(warning, cut.note_width)}")
    state = "complete" if report.complete else "INCOMPLETE"
    lines.append(f"id: {clean_line(report.id or '')} ({state}, {report.elapsed_seconds:.1f}s)")
    if report.next_step:
        lines.append(f"Next step: {clean_line(report.next_step)}")
    return lines


def _verdict_line(report: DetectionReport) -> str:
    """The first line: the verdict as TruthScan says it, the score, confidence, and the marks."""
    tag = " [SIMULATED — sandbox, not a real TruthScan verdict]" if report.simulated else ""
    cached = " (from local cache, no credits spent)" if report.cached else ""
    name = f" for {named(report.source.name, max_length=80)}" if report.source.name else ""
    if report.status == "failed":
        return f"Detection FAILED{name}{tag}: TruthScan could not process the image."
    if report.verdict is None:
        return f"No verdict yet{name} (status: {report.status}){tag}"
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
    verdict = truthscan_says(report.verdict, max_length=200)
    return f"Verdict{name}: {verdict} — {score}{conf}{tag}{cached}"


def _analysis_lines(report: DetectionReport, cut: Cut) -> list[str]:
    analysis = report.analysis
    if analysis is None:
        if report.analysis_status == "pending":
            return ["Deep analysis: still pending."]
        if report.analysis_status in ("skipped", "failed"):
            return [f"Deep analysis: {report.analysis_status}."]
        return []
    lines = [_deep_analysis(analysis, cut.reasoning)]
    if analysis.key_indicators:
        lines.append(f"Key indicators: {_said(analysis.key_indicators, cut.items, cut.width)}")
    if analysis.visual_patterns:
        lines.append(f"Visual patterns: {_said(analysis.visual_patterns, min(3, cut.items), cut.width)}")
    if analysis.recommendations:
        lines.append(f"Recommendations: {_said(analysis.recommendations, min(3, cut.items), cut.width)}")
    return lines


def _picture_lines(report: DetectionReport, heatmap_words: str | None) -> list[str]:
    """Where the heatmap and the preview are (URLs cleaned to one line)."""
    lines: list[str] = []
    if report.heatmap_url and report.heatmap_status == "ready":
        words = f" — {heatmap_words}" if heatmap_words else ""
        lines.append(f"Heatmap{words}: {clean_url(report.heatmap_url)}")
    elif report.heatmap_status in ("pending", "failed"):
        lines.append(f"Heatmap: {report.heatmap_status}.")
    if report.preview_url:
        lines.append(f"Preview: {clean_url(report.preview_url)}")
    return lines


def _signals(report: DetectionReport, metadata_items: int, width: int) -> str | None:
    """One line of the detector signals: TruthScan's labels quoted under one attribution."""
    step = f" (step {report.detection_step}/3)" if report.detection_step else ""
    sig = report.signals
    said: list[str] = []
    ours = ""
    if sig.ml_model and sig.ml_model.label:
        score = f" {sig.ml_model.score:.1f}" if sig.ml_model.score is not None else ""
        said.append(f"ML model {quoted(sig.ml_model.label, max_length=80)}{score}")
    elif sig.ml_model and sig.ml_model.score is not None:
        ours = f"ML model score {sig.ml_model.score:.1f}"
    if sig.ocr and sig.ocr.label:
        said.append(f"OCR {quoted(sig.ocr.label, max_length=80)}")
    if sig.metadata:
        more = len(sig.metadata) - metadata_items
        items = "; ".join(quoted(m, max_length=width) for m in sig.metadata[:metadata_items])
        said.append(f"metadata {items}" + (f" (+{more} more)" if more > 0 else ""))
    if said:
        return f"Signals{step}{f': {ours}' if ours else ''}, TruthScan says: " + " | ".join(said)
    if ours or step:
        return f"Signals{step}: {ours or 'none given'}"
    return None


def _deep_analysis(analysis: Analysis, max_reasoning: int) -> str:
    """The deep analysis's head line: its confidence (a number of ours), then TruthScan's words."""
    head = "Deep analysis"
    if analysis.confidence is not None:
        head += f" (confidence {analysis.confidence:.0f})"
    said: list[str] = []
    if analysis.agreement:
        said.append(f"agreement {quoted(analysis.agreement, max_length=60)}")
    if analysis.reasoning:
        said.append(quoted(analysis.reasoning, max_length=max_reasoning))
    return f"{head}, TruthScan says: {'; '.join(said)}" if said else f"{head}."


def render_credits(credits: Credits) -> str:
    tag = " [SIMULATED sandbox account]" if credits.simulated else ""
    return (
        f"TruthScan credits: {credits.credits} available "
        f"({credits.base_credits} base + {credits.boost_credits} boost){tag}. "
        "Each detect_image of new image bytes spends credits; cached results spend none. "
        + _today(credits.detections_today, credits.daily_limit)
    )


def _today(count: int, limit: int | None) -> str:
    """Today's count under the daily cap, as the credit guard keeps it."""
    paid = f"{count} paid detection{'' if count == 1 else 's'} today (UTC)"
    if limit is None:
        return f"{paid}; no daily limit is set."
    left = max(limit - count, 0)
    return f"{paid} of a daily limit of {limit}: {left} left until 00:00 UTC."


def render_health(health: Health, add_key_hint: str = "Set TRUTHSCAN_API_KEY to add one.") -> str:
    """`add_key_hint` says how to add a key in the words of the way the server was started."""
    if health.reachable:
        status = truthscan_says(health.status, max_length=80) if health.status else "no status given"
        state = f"reachable in {health.latency_ms:.0f} ms, {status}"
    else:
        state = f"UNREACHABLE ({clean_line(health.error or 'no answer')})"
    key = "configured" if health.api_key_configured else "NOT configured"
    mode = "sandbox simulator (verdicts are simulated)" if health.sandbox else "live TruthScan API"
    text = f"TruthScan: {state}. Mode: {mode}. API key: {key}. truthscan-mcp {health.server_version}."
    return text if health.api_key_configured or health.sandbox else f"{text} {add_key_hint}"


def render_batch(result: BatchResult) -> str:
    """A summary line and a compact table, one row per image with its id in full for get_result —
    within MAX_REPORT_CHARS: rows that do not fit are counted, not listed (they are all in the
    structured result's `rows`), so a 100-image batch costs the model no more than one report."""
    summary = result.totals
    counts = ", ".join(
        f"{n} × {quoted(verdict, max_length=60)}"
        for verdict, n in sorted(summary.verdicts.items(), key=lambda x: -x[1])
    )
    parts = [f"TruthScan says: {counts}" if counts else "no verdicts"]
    if summary.errors:
        parts.append(counted(summary.errors, "error"))
    if summary.incomplete:
        parts.append(f"{summary.incomplete} unfinished")
    spent = (
        counted(summary.credits_spent, "credit") if summary.credits_spent is not None else "credits unknown"
    )
    tag = " [SIMULATED — sandbox verdicts]" if result.simulated else ""
    head = [
        *_page_lead(result),
        f"Batch of {counted(summary.total, 'image')}: {'; '.join(parts)}.{tag}",
        f"Paid detections: {summary.detections_paid} ({spent}); free (cache/duplicates): {summary.cached}. "
        "Scores are probabilities, not proof.",
        "#  | verdict (TruthScan's words) | AI score | confidence | image | id",
    ]
    tail = [f"Note: {clip(warning, 160)}" for warning in result.warnings[:2]]
    if result.next_step:
        tail.append(f"Next step: {clip(result.next_step, 300)}")
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


#: the AI-looking images a page sweep's first lines link to; the rest are counted
_MAX_LEAD_LINKS = 5
_AI_TIERS = ("Likely Synthetic", "Synthetic")


def _page_lead(result: BatchResult) -> list[str]:
    """For a page sweep, what matters first: which page (its title quoted as the page's words),
    how many of its images look AI-generated and which, with links; then what was left out."""
    if result.page_url is None:
        return []
    title = f" — {page_says(result.page_title, max_length=120)}" if result.page_title else ""
    lines = [f"Page sweep of {clean_url(result.page_url)}{title}."]
    numbered = list(enumerate(result.rows, start=1))
    judged = [(n, r) for n, r in numbered if r.error is None and r.ai_score is not None]
    looks_ai = [(n, r) for n, r in judged if r.tier in _AI_TIERS]
    if looks_ai:
        shown = "; ".join(
            f"#{n} {clean_url(r.source) if not r.source.startswith('data:') else 'an inline image'} "
            f"({r.tier}, {r.ai_score:.0f})"
            for n, r in looks_ai[:_MAX_LEAD_LINKS]
        )
        more = f"; +{len(looks_ai) - _MAX_LEAD_LINKS} more" if len(looks_ai) > _MAX_LEAD_LINKS else ""
        lines.append(
            f"{len(looks_ai)} of {counted(len(judged), 'image')} with a score look AI-generated "
            f"(AI score ≥ 50): {shown}{more}."
        )
    elif judged:
        lines.append(
            f"None of the {counted(len(judged), 'image')} with a score looks AI-generated (all under 50)."
        )
    if result.skipped:
        reasons = Counter(s.reason.split(":")[0].split(" (")[0] for s in result.skipped)
        listed = ", ".join(f"{n} {clip(reason, 40)}" for reason, n in reasons.most_common(4))
        lines.append(f"Not detected (nothing paid): {listed} — every one is in `skipped` with its reason.")
    return lines


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
        name = named(row.name or row.source, max_length=40)
        if row.error:
            lines.append(f"{number} | ERROR | - | - | {name} | {row.id or '-'} | {clip(row.error, 140)}")
            continue
        score = f"{row.ai_score:.0f}" if row.ai_score is not None else "-"
        verdict = (
            quoted(row.verdict, max_length=60) if row.verdict else ("pending" if not row.complete else "-")
        )
        extra = " (cached)" if row.cached and not row.duplicate_of else ""
        if row.duplicate_of:
            first = numbers.get(row.duplicate_of)
            extra = (
                f" (same image as #{first})"
                if first
                else f" (same as {named(row.duplicate_of, max_length=40)})"
            )
        alt = f" ({page_says(row.alt, max_length=60)})" if row.alt else ""
        band = row.confidence_band or "-"
        lines.append(f"{number} | {verdict}{extra} | {score} | {band} | {name}{alt} | {row.id or '-'}")
    return lines


def render_export(exported: ExportedReport) -> str:
    """Where the evidence report went and what pins it, for the model to pass on."""
    lines = [
        f"Evidence report written for {exported.id}:",
        f"- HTML: {clean_line(exported.html_path)}",
        f"- JSON sidecar: {clean_line(exported.json_path)}",
        f"- SHA-256 of the HTML: {exported.html_sha256}",
        "The image is embedded."
        if exported.image_embedded
        else "The image is not embedded (this server no longer holds it); its SHA-256 identifies it.",
    ]
    if exported.disagreement:
        lines.append(exported.disagreement)
    lines.append(
        "The report quotes TruthScan's words as TruthScan's, lists what the result does not mean, "
        "and never replaced an existing file. Tell the user where it is."
    )
    return "\n".join(lines)
