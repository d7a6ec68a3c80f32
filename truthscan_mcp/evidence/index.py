"""The index page of a batch's reports: one row per image, each linking to its own report.

Written next to the reports, self-contained like them (no network), linking by relative file
name so the folder can be zipped, mailed or moved as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

from truthscan_mcp.models import ExportedReport


@dataclass(frozen=True)
class IndexEntry:
    """One image of the batch: its report, or why it has none."""

    source: str
    verdict: str | None = None
    ai_score: float | None = None
    tier: str | None = None
    report: ExportedReport | None = None
    problem: str | None = None


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1000px;
  margin: 0 auto; padding: 24px; color: #111827; font-size: 14px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; border-bottom: 1px solid #d1d5db; padding: 4px 8px; vertical-align: top; }
td.hash { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px; overflow-wrap: anywhere; }
.muted { color: #4b5563; }
@media print { tr { break-inside: avoid; } thead { display: table-header-group; } }
"""


def _row(entry: IndexEntry, folder: Path) -> str:
    score = f"{entry.ai_score:.0f}" if entry.ai_score is not None else ""
    if entry.report is not None:
        html = Path(entry.report.html_path)
        name = html.name if html.parent == folder else str(html)
        link = f'<a href="{escape(quote(name))}">{escape(name)}</a>'
        digest = escape(entry.report.html_sha256)
    else:
        link, digest = f'<span class="muted">{escape(entry.problem or "no report")}</span>', ""
    cells = (escape(entry.source), escape(entry.verdict or ""), escape(entry.tier or ""), escape(score))
    return (
        "<tr>"
        + "".join(f"<td>{c}</td>" for c in cells)
        + f'<td>{link}</td><td class="hash">{digest}</td></tr>'
    )


def render_index(entries: list[IndexEntry], folder: Path, written_at: datetime) -> str:
    rows = "".join(_row(entry, folder) for entry in entries)
    when = written_at.isoformat().replace("+00:00", "Z")
    written = sum(1 for e in entries if e.report is not None)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>TruthScan evidence reports — {written} images</title><style>{_STYLE}</style></head><body>"
        f'<h1>TruthScan evidence reports</h1><p class="muted">{written} of {len(entries)} images, '
        f"written {escape(when)}. Each report's JSON sidecar holds its facts and its HTML's SHA-256 "
        "(also listed here). A score is a probability, not proof.</p>"
        "<table><thead><tr><th>Image</th><th>Verdict</th><th>Tier</th><th>AI score</th><th>Report</th>"
        f"<th>SHA-256 of the report</th></tr></thead><tbody>{rows}</tbody></table></body></html>"
    )
