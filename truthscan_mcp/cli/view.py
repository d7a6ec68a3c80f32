"""What a person sees in the terminal: one live line, then a table of every row, or one report.

Drawn with `rich` (tables that align and wrap, colour that switches itself off when the output
is not a terminal or NO_COLOR is set, one live line redrawn in place) instead of hand-written
escape codes. Every string that came from outside — a file name, a URL, TruthScan's words —
goes in as plain `Text` after `sanitize`, never as markup: a file named `[red]x` prints as is,
and no escape sequence of an attacker's reaches the terminal.
"""

from __future__ import annotations

import os
import textwrap
import time
from typing import Any, TextIO, cast

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from truthscan_mcp.cli.tally import Tally, field_of
from truthscan_mcp.models import DetectionReport
from truthscan_mcp.sanitize import clean_line, clean_text, clean_url, counted

TIER_STYLES = {"Real": "green", "Likely Real": "green", "Likely Synthetic": "yellow", "Synthetic": "bold red"}
FINDINGS = {
    "ai_declared": "AI declared",
    "edited_declared": "edit declared",
    "camera_declared": "camera declared",
    "none": "none",
}
SIMULATED = "SIMULATED: verdicts of the built-in sandbox, not of TruthScan."
#: the least width of a table written to a file or a pipe: a pipe has no width of its own, and
#: `COLUMNS` (80 in many environments) describes a terminal, not the file a script reads
PIPE_WIDTH = 160


def console_for(stream: TextIO) -> Console:
    """A console on `stream`: colour and live redraws only on a terminal, never with NO_COLOR
    (rich reads it); no markup, emoji or highlighting, so text is shown exactly as cleaned."""
    terminal = stream.isatty()
    width = None if terminal else max(PIPE_WIDTH, _int_or_zero(os.environ.get("COLUMNS", "")))
    return Console(
        file=stream,
        markup=False,
        emoji=False,
        highlight=False,
        width=width,
        force_terminal=None,
        no_color=True if os.environ.get("NO_COLOR") else None,
    )


def _int_or_zero(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# --- the live line ---------------------------------------------------------------------------


class _LiveLine:
    """Recomputed from the tally at every redraw, so the time left moves between events."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """One line at any width: the bar shrinks and the counts are cut with an ellipsis, since a
        line that wraps can no longer be redrawn in place."""
        yield self._line(options.max_width)

    def _line(self, width: int) -> RenderableType:
        tally = self.tally
        done = sum(tally.done_by_batch.values())
        left = tally.time_left()
        parts = [
            f"{tally.finished}/{counted(tally.total, 'image')}",
            f"{len(tally.paid)} paid",
            f"{tally.cached} cached",
            counted(tally.errors, "error"),
        ]
        if tally.finished == tally.total:
            parts.append(f"took {time.monotonic() - tally.started:.1f} s")
        else:
            parts.append("time left: " + ("estimating" if left is None else _seconds(left)))
        bar = max(4, min(24, width - 70))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, min_width=9)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_row(
            Text("Detecting", style="bold"),
            ProgressBar(total=max(tally.total, 1), completed=done, width=bar),
            Text(" · ".join(parts), no_wrap=True, overflow="ellipsis"),
        )
        return grid


def live_line(console: Console, tally: Tally) -> Live:
    """The one line that moves while the images are checked; its last state stays on screen.

    Nothing is redirected into it: rich would otherwise print what goes to stdout on this
    console, and stdout may be a pipe while the line is on the terminal's stderr.
    """
    return Live(
        _LiveLine(tally),
        console=console,
        refresh_per_second=8,
        transient=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def _seconds(value: float) -> str:
    if value < 60:
        return f"~{max(1, round(value))} s"
    return f"~{int(value // 60)} min {round(value % 60):02d} s"


# --- several images: the table -------------------------------------------------------------


def results_table(tally: Tally) -> Table:
    """Every row and every column at any width: on a narrow terminal each cell folds within a
    column of a least width rather than a column being squeezed out of the table."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("image", overflow="fold", min_width=10, max_width=48)
    table.add_column("verdict", overflow="fold", min_width=10, max_width=64)
    table.add_column("AI score", justify="right", overflow="fold", min_width=5)
    table.add_column("tier", overflow="fold", min_width=6)
    table.add_column("provenance", overflow="fold", min_width=6)
    table.add_column("id", overflow="fold", min_width=9)
    table.add_column("cached", overflow="fold", min_width=3)
    first_of = {item.value: index for index, item in reversed(list(enumerate(tally.inputs)))}
    for index in range(tally.total):
        row = tally.row_dict(index)
        table.add_row(*_cells(index, row, first_of))
    return table


def _cells(index: int, row: dict[str, Any], first_of: dict[str, int]) -> list[Text]:
    name = Text(clean_line(row.get("name") or row.get("source") or ""))
    tier = row.get("tier")
    score = row.get("ai_score")
    if row.get("error"):
        verdict = Text("error: " + clean_text(row["error"]), style="red")
    elif row.get("verdict"):
        verdict = Text(clean_line(row["verdict"]) + ("" if row.get("complete") else " (analysis pending)"))
    else:
        verdict = Text("not finished", style="yellow")
    cached = "yes" if row.get("cached") and row.get("id") else "no" if row.get("id") else "–"
    original = first_of.get(str(row.get("duplicate_of")))
    if original is not None and row.get("id"):
        cached = f"yes, = #{original + 1}"  # the same bytes as that row: detected once
    finding = field_of(row.get("provenance"), "finding")
    return [
        Text(str(index + 1)),
        name,
        verdict,
        Text(f"{score:.1f}" if isinstance(score, (int, float)) else "–"),
        Text(str(tier) if tier else "–", style=TIER_STYLES.get(str(tier), "")),
        Text(FINDINGS.get(str(finding), "–"), style="yellow" if finding == "ai_declared" else ""),
        Text(str(row.get("id") or "–")),
        Text(cached),
    ]


def totals_lines(tally: Tally) -> list[Text]:
    totals = tally.totals()
    spent = (
        "credits spent unknown" if totals.credits_spent is None else counted(totals.credits_spent, "credit")
    )
    if totals.credits_spent is not None:
        spent += " spent"
    answered = totals.complete
    line = Text(
        f"{counted(totals.total, 'image')}: {answered} answered, "
        f"{counted(totals.incomplete, 'unfinished', 'unfinished')}, {counted(totals.errors, 'error')} · "
        f"{totals.detections_paid} paid, {totals.cached} cached, {spent}"
    )
    lines = [line]
    if tally.simulated:
        lines.append(
            Text("SIMULATED: verdicts of the built-in sandbox, not of TruthScan.", style="bold yellow")
        )
    unfinished = [row.id for row in tally.final_rows() if row.id and not row.complete and not row.error]
    if unfinished:
        lines.append(
            Text(
                f"{counted(len(dict.fromkeys(unfinished)), 'detection')} paid for but not finished: "
                "`truthscan-mcp report ID` finishes each later, at no cost.",
                style="yellow",
            )
        )
    if tally.interrupted:
        lines.append(Text("Interrupted: the rows above are what was known when you stopped.", style="yellow"))
    return lines


def print_table(console: Console, tally: Tally) -> None:
    console.print(results_table(tally))
    for line in totals_lines(tally):
        console.print(line)


# --- one image: the full report ---------------------------------------------------------------


def print_report(console: Console, tally: Tally, report: DetectionReport | None) -> None:
    """One image in full: verdict, score, tier, provenance, TruthScan's reasoning quoted."""
    row = tally.row_dict(0)
    if report is None or row.get("error"):
        print_table(console, tally)
        return
    name = clean_line(row.get("name") or row.get("source") or "")
    title = Text(f"{name}: ", style="bold")
    title.append(
        clean_line(report.verdict or "no verdict yet"), style=TIER_STYLES.get(str(report.tier), "bold")
    )
    if report.simulated or tally.simulated:
        title.append("  SIMULATED", style="bold yellow")
    console.print(title)
    for label, value in _facts(report, row):
        line = Text(f"  {label:<11}", style="dim")
        line.append_text(value)
        console.print(line)
    width = max(40, console.width - 6)
    for renderable in _analysis(report, width):
        console.print(renderable)
    for line in totals_lines(tally)[1:]:
        console.print(line)


def _facts(report: DetectionReport, row: dict[str, Any]) -> list[tuple[str, Text]]:
    facts: list[tuple[str, Text]] = []
    if report.ai_score is not None:
        facts.append(("AI score", Text(f"{report.ai_score:.1f} / 100 (a probability, not proof)")))
    if report.tier:
        facts.append(("tier", Text(report.tier, style=TIER_STYLES.get(report.tier, ""))))
    if report.confidence_band or report.confidence is not None:
        number = f" ({report.confidence:.0f})" if report.confidence is not None else ""
        facts.append(("confidence", Text(f"{report.confidence_band or ''}{number}".strip())))
    provenance = row.get("provenance")
    if provenance is not None:
        finding = str(field_of(provenance, "finding"))
        listed = field_of(provenance, "evidence")
        evidence = (
            [clean_line(e) for e in cast("list[object]", listed)][:4] if isinstance(listed, list) else []
        )
        facts.append(
            (
                "provenance",
                Text(FINDINGS.get(finding, finding) + (": " + "; ".join(evidence) if evidence else "")),
            )
        )
    facts.append(("status", Text(report.status + ("" if report.complete else " (not finished)"))))
    if report.heatmap_url:
        facts.append(("heatmap", Text(clean_url(report.heatmap_url))))
    facts.append(("id", Text(report.id or "–")))
    facts.append(("cached", Text("yes (no credit spent)" if row.get("cached") else "no (1 detection paid)")))
    return facts


def _analysis(report: DetectionReport, width: int) -> list[Text]:
    analysis = report.analysis
    if analysis is None:
        return []
    out: list[Text] = []
    if analysis.reasoning:
        out.append(Text("TruthScan's reasoning:", style="bold"))
        for paragraph in clean_text(analysis.reasoning, multiline=True).split("\n"):
            lines = textwrap.wrap(paragraph, width) or [""]
            out.append(Text("\n".join("  > " + line for line in lines)))
    for label, items in (
        ("Key indicators", analysis.key_indicators),
        ("Visual patterns", analysis.visual_patterns),
        ("Recommendations", analysis.recommendations),
    ):
        if items:
            out.append(Text(f"{label} (TruthScan's words):", style="bold"))
            for item in items:
                wrapped = textwrap.wrap(clean_line(item), width) or [""]
                out.append(Text("  - " + "\n    ".join(wrapped)))
    return out
