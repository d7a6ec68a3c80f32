"""The evidence report as one self-contained HTML page: the evidence view's look, laid out for print.

Everything is inline (styles, the picture and heatmap as data: URIs, the gauge as SVG, a few
lines of script for the heatmap's opacity), so the page opens years later, offline, anywhere,
and loads nothing: no font, no image, no script from any host. Every string from outside
(TruthScan's words, file names, metadata, URLs) is HTML-escaped; TruthScan's words appear in
quotation blocks attributed to TruthScan. Print CSS keeps tables and blocks whole on A4 and
Letter alike (no fixed page size: the printer's paper decides).
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape

from truthscan_mcp.evidence.facts import EvidenceFacts
from truthscan_mcp.models import Analysis, Custody, Provenance

_TIERS: tuple[tuple[float, float, str, str], ...] = (
    (0, 20, "Real", "#15803d"),
    (20, 50, "Likely Real", "#65a30d"),
    (50, 80, "Likely Synthetic", "#d97706"),
    (80, 100, "Synthetic", "#dc2626"),
)

_STYLE = """
:root { --fg:#111827; --muted:#4b5563; --line:#d1d5db; --bg2:#f3f4f6; --accent:#2563eb;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
html, body { margin: 0; color: var(--fg); background: #fff; }
body { max-width: 960px; margin: 0 auto; padding: 24px; font-size: 14px; line-height: 1.45; }
h1 { font-size: 1.4rem; margin: 0 0 4px; }
h2 { font-size: 1rem; margin: 22px 0 8px; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); border-bottom: 1px solid var(--line); }
.muted { color: var(--muted); }
.mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.banner { border: 2px solid #b45309; background: #fef3c7; color: #78350f; border-radius: 6px;
  padding: 8px 12px; margin: 12px 0; font-weight: 600; }
.conflict { border-color: #b91c1c; background: #fee2e2; color: #7f1d1d; }
.top { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 20px;
  align-items: start; }
.stack { position: relative; background: var(--bg2); border-radius: 6px; overflow: hidden; }
.stack img { display: block; width: 100%; height: auto; }
.stack img.heat { position: absolute; inset: 0; opacity: .5; mix-blend-mode: multiply; }
.noimage { padding: 40px 16px; text-align: center; color: var(--muted); }
.controls { display: flex; gap: 8px; align-items: center; margin-top: 6px; font-size: 12px; }
.verdict { font-size: 1.3rem; font-weight: 700; margin: 4px 0; }
.tier { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
  font-weight: 700; color: #fff; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 12px; margin: 8px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
blockquote { border-left: 3px solid var(--accent); margin: 6px 0; padding: 4px 12px; background: var(--bg2);
  border-radius: 0 6px 6px 0; white-space: pre-wrap; }
cite { display: block; font-size: 12px; color: var(--muted); font-style: normal; margin-top: 2px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid var(--line); padding: 4px 8px; }
th { width: 30%; color: var(--muted); font-weight: 600; }
td { overflow-wrap: anywhere; }
ul { margin: 4px 0; padding-left: 20px; }
footer { margin-top: 24px; font-size: 12px; color: var(--muted); }
@media (max-width: 700px) { .top { grid-template-columns: 1fr; } }
@page { margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  .controls { display: none; }
  .top { grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); }
  .stack img { max-height: 120mm; object-fit: contain; }
  .top, table, tr, figure, blockquote, .banner, dl { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  .stack, .banner, .tier { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

_SCRIPT = """
(function () {
  var range = document.getElementById("opacity"), heat = document.getElementById("heat");
  if (!range || !heat) { return; }
  range.addEventListener("input", function () { heat.style.opacity = String(range.value / 100); });
})();
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _when(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else "not recorded"


def _tier_colour(tier: str | None) -> str:
    return next((colour for _, _, name, colour in _TIERS if name == tier), "#6b7280")


def gauge_svg(score: float | None) -> str:
    """The score on a half dial with TruthScan's four bands, as inline SVG."""

    def point(value: float, radius: float) -> tuple[float, float]:
        angle = math.pi * (1 - value / 100)
        return 100 + radius * math.cos(angle), 100 - radius * math.sin(angle)

    arcs: list[str] = []
    for low, high, name, colour in _TIERS:
        (x1, y1), (x2, y2) = point(low, 80), point(high, 80)
        arcs.append(
            f'<path d="M {x1:.1f} {y1:.1f} A 80 80 0 0 1 {x2:.1f} {y2:.1f}" stroke="{colour}" '
            f'stroke-width="18" fill="none"><title>{_e(name)}</title></path>'
        )
    needle = ""
    label = "no score"
    if score is not None:
        x, y = point(max(0.0, min(100.0, score)), 70)
        needle = f'<line x1="100" y1="100" x2="{x:.1f}" y2="{y:.1f}" stroke="#111827" stroke-width="4"/>'
        label = f"{score:.0f}/100"
    return (
        '<svg viewBox="0 0 200 128" width="220" role="img" aria-label="AI score gauge">'
        + "".join(arcs)
        + needle
        + '<circle cx="100" cy="100" r="6" fill="#111827"/>'
        + '<text x="100" y="125" text-anchor="middle" font-size="14" font-weight="700">'
        + f"{_e(label)}</text></svg>"
    )


def _figure(facts: EvidenceFacts, picture_uri: str | None, heatmap_uri: str | None) -> str:
    picture = facts.picture
    if picture_uri is None:
        inner = f'<div class="noimage">No image in this report. {_e(picture.note or "")}</div>'
    else:
        inner = f'<img src="{picture_uri}" alt="The checked image">'
        if heatmap_uri is not None:
            inner += f'<img class="heat" id="heat" src="{heatmap_uri}" alt="TruthScan heatmap">'
    controls = ""
    if picture_uri is not None and heatmap_uri is not None:
        controls = (
            '<div class="controls"><label for="opacity">Heatmap opacity</label>'
            '<input id="opacity" type="range" min="0" max="100" value="50"></div>'
        )
    caption = picture.note or ""
    if facts.heatmap.note:
        caption = f"{caption} {facts.heatmap.note}".strip()
    return (
        f'<figure style="margin:0"><div class="stack">{inner}</div>{controls}'
        f'<figcaption class="muted" style="font-size:12px;margin-top:4px">{_e(caption)}</figcaption></figure>'
    )


def _verdict_card(facts: EvidenceFacts) -> str:
    report = facts.detection
    tier = report.tier
    chip = f'<span class="tier" style="background:{_tier_colour(tier)}">{_e(tier)}</span>' if tier else ""
    confidence = "not given"
    if report.confidence is not None:
        confidence = f"{report.confidence:.0f}/100"
        if report.confidence_band:
            confidence += f" ({report.confidence_band})"
    elif report.confidence_band:
        confidence = report.confidence_band
    rows = [
        ("AI score", f"{report.ai_score:.1f}/100" if report.ai_score is not None else "none"),
        ("Tier", tier or "none"),
        ("Confidence", confidence),
        ("Status", f"{report.status}{'' if report.complete else ' (not complete)'}"),
        ("Detection step", f"{report.detection_step}/3" if report.detection_step else "not given"),
    ]
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return (
        f"<div>{gauge_svg(report.ai_score)}"
        f'<div class="verdict">{_e(report.verdict or "No verdict")} {chip}</div>'
        '<div class="muted">TruthScan\'s verdict</div>'
        f'<dl class="facts">{facts_html}</dl></div>'
    )


def _quoted_list(title: str, items: list[str]) -> str:
    if not items:
        return ""
    entries = "".join(f"<li>{_e(item)}</li>" for item in items)
    return f"<h3>{_e(title)}</h3><blockquote><ul>{entries}</ul><cite>— TruthScan</cite></blockquote>"


def _analysis(analysis: Analysis | None, status: str) -> str:
    if analysis is None:
        return (
            "<section><h2>TruthScan's analysis</h2>"
            f'<p class="muted">No deep analysis ({_e(status)}).</p></section>'
        )
    head: list[str] = []
    if analysis.agreement:
        head.append(f"agreement: {analysis.agreement}")
    if analysis.confidence is not None:
        head.append(f"confidence: {analysis.confidence:.0f}")
    parts = [
        "<section><h2>TruthScan's analysis</h2>",
        f'<p class="muted">{_e(", ".join(head))}</p>' if head else "",
        f"<h3>Reasoning</h3><blockquote>{_e(analysis.reasoning)}<cite>— TruthScan</cite></blockquote>"
        if analysis.reasoning
        else "",
        _quoted_list("Key indicators", analysis.key_indicators),
        _quoted_list("Visual patterns", analysis.visual_patterns),
        _quoted_list("Recommendations", analysis.recommendations),
        "</section>",
    ]
    return "".join(parts)


def _provenance(provenance: Provenance | None) -> str:
    if provenance is None:
        return (
            '<section><h2>Provenance</h2><p class="muted">Not read: this server did not hold the '
            "image's bytes when it answered.</p></section>"
        )
    c2pa = provenance.c2pa
    trusted = {True: "yes", False: "no", None: "not judged (the C2PA reader could not run)"}[c2pa.trusted]
    listed = c2pa.trust_list
    rows: list[tuple[str, str]] = [("Finding", provenance.finding)]
    if c2pa.present:
        rows += [
            ("C2PA signature valid", {True: "yes", False: "NO", None: "not verified"}[c2pa.valid]),
            ("Signer on the trust list", trusted),
            ("Trust list", f"{listed.name}, snapshot of {listed.date or 'no date'}" if listed else "none"),
            ("Signer", c2pa.signer or "unnamed"),
            ("Claim generator", c2pa.claim_generator or "not named"),
            ("Actions", ", ".join(c2pa.actions) or "none"),
        ]
    else:
        rows.append(("C2PA manifest", "none"))
    rows += [
        ("Digital source type", provenance.digital_source_type or "not declared"),
        ("Generator named", provenance.generator or "none"),
        (
            "Camera",
            " ".join(x for x in (provenance.camera.make, provenance.camera.model) if x)
            if provenance.camera
            else "none",
        ),
        ("Software", provenance.software or "none"),
    ]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    evidence = "".join(f"<li>{_e(line)}</li>" for line in provenance.evidence)
    return (
        "<section><h2>Provenance (what the file declares)</h2>"
        f"<p>{_e(provenance.summary)}</p><table>{table}</table>"
        + (f"<h3>Evidence found in the file</h3><ul>{evidence}</ul>" if evidence else "")
        + "</section>"
    )


def _custody(custody: Custody, html_note: str) -> str:
    rows: list[tuple[str, str]] = [
        ("Source kind", custody.source_kind),
        ("Source", custody.source_name or "not recorded"),
    ]
    if custody.source_path:
        rows.append(("Path read", custody.source_path))
    if custody.source_url:
        rows.append(("URL asked for", custody.source_url))
    if custody.source_kind == "url" or custody.final_url:
        rows.append(("Final URL (after redirects)", custody.final_url or "not recorded"))
    rows += [
        ("Media type", custody.media_type or "not recorded"),
        ("Size", f"{custody.bytes:,} bytes" if custody.bytes is not None else "not recorded"),
        ("SHA-256 of the checked bytes", custody.sha256 or "not recorded"),
        ("Read or fetched at (UTC)", _when(custody.read_at)),
        ("TruthScan document id", custody.document_id),
        ("Submitted at (UTC)", _when(custody.submitted_at)),
        ("Completed at (UTC)", _when(custody.completed_at)),
        ("TruthScan API", custody.api_url),
        ("Simulated", "YES — sandbox, not a real TruthScan verdict" if custody.simulated else "no"),
        ("truthscan-mcp version", custody.server_version),
        ("Report written at (UTC)", _when(custody.report_written_at)),
    ]
    table = "".join(f'<tr><th>{_e(k)}</th><td class="mono">{_e(v)}</td></tr>' for k, v in rows)
    notes = "".join(f"<li>{_e(note)}</li>" for note in custody.notes)
    return (
        "<section><h2>Custody</h2>"
        f"<table>{table}</table>"
        + (f'<ul class="muted">{notes}</ul>' if notes else "")
        + f'<p class="muted">{_e(html_note)}</p></section>'
    )


def render_page(facts: EvidenceFacts, picture_uri: str | None, heatmap_uri: str | None) -> str:
    """The whole page; `facts` must already hold everything it shows."""
    report = facts.detection
    banners = ""
    if report.simulated:
        banners += (
            '<div class="banner">SIMULATED — made with the sandbox, not a real TruthScan verdict.</div>'
        )
    if not report.complete:
        banners += (
            '<div class="banner">Not complete when exported: TruthScan had not settled every part.</div>'
        )
    if facts.disagreement:
        banners += f'<div class="banner conflict">{_e(facts.disagreement)}</div>'
    caveats = "".join(f"<li>{_e(line)}</li>" for line in facts.caveats)
    name = facts.custody.source_name or facts.id
    note = (
        "The JSON sidecar next to this file (same name, ending .json) holds these facts and the "
        "SHA-256 of this HTML file's bytes."
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>TruthScan evidence report — {_e(name)}</title><style>{_STYLE}</style></head><body>"
        f'<header><h1>TruthScan evidence report</h1><div class="muted">{_e(name)} · document '
        f'<span class="mono">{_e(facts.id)}</span> · written {_e(_when(facts.written_at))}</div></header>'
        f"{banners}"
        f'<section class="top">{_figure(facts, picture_uri, heatmap_uri)}{_verdict_card(facts)}</section>'
        f"{_analysis(report.analysis, report.analysis_status)}"
        f'<p class="muted">{_e(facts.quoted)}</p>'
        f"{_provenance(report.provenance)}"
        f"{_custody(facts.custody, note)}"
        f"<section><h2>What this result does not mean</h2><ul>{caveats}</ul></section>"
        f"<footer>Written by truthscan-mcp {_e(facts.custody.server_version)}. {_e(note)}</footer>"
        f"<script>{_SCRIPT}</script></body></html>"
    )
