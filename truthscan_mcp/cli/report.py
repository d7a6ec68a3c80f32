"""`truthscan-mcp report ID... [--out DIR]` and `detect --report DIR`: evidence reports from a terminal.

The writing itself lives in `evidence/` (the same code `export_report` runs); this module only
turns command-line arguments and `detect`'s rows into report items and prints where the files
went.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from truthscan_mcp.app import AppContext, open_app
from truthscan_mcp.cli.words import terminal_words
from truthscan_mcp.errors import NotFoundError, TruthScanError
from truthscan_mcp.evidence.export import BatchItem, Reporter, ReportRun
from truthscan_mcp.models import BatchRow
from truthscan_mcp.settings import Settings

#: why `--sandbox report ID` cannot find an id a `--sandbox detect` printed: each run simulates
#: TruthScan afresh (its ids mean nothing to another run, so the cache keeps them apart)
SANDBOX_FORGETS = (
    "the sandbox simulates TruthScan inside each command and forgets its detections when the "
    "command ends, so a later run cannot report on them. Write the report in the same run: "
    "truthscan-mcp --sandbox detect IMAGE --report DIR"
)


def reporter_of(app: AppContext) -> Reporter:
    return Reporter(app.detector, app.client, app.store, app.settings)


def item_of_row(row: BatchRow) -> BatchItem:
    return BatchItem(row.source, row.id, row.verdict, row.ai_score, row.tier, row.error)


async def write_reports(app: AppContext, items: Sequence[BatchItem], out: str | None) -> ReportRun:
    """A report per item into `out` (the person's folder, created when missing; default the
    reports folder) and an index for several."""
    chosen = Path(out) if out else None  # ~ is expanded where the folder is made, off the loop
    return await reporter_of(app).write_all(list(items), chosen)


def print_run(run: ReportRun) -> int:
    """Where each report went (stderr: stdout carries the results); 0 when all were written."""
    for entry in run.entries:
        if entry.report is not None:
            sys.stderr.write(f"report: {entry.source}: {entry.report.html_path}\n")
            if entry.report.disagreement:
                sys.stderr.write(f"  {entry.report.disagreement}\n")
        else:
            sys.stderr.write(f"no report: {entry.source}: {entry.problem or 'no verdict'}\n")
    if run.index_path is not None:
        sys.stderr.write(f"index: {run.index_path}\n")
    return 0 if all(entry.report is not None for entry in run.entries) else 1


def run_report(settings: Settings, args: argparse.Namespace) -> int:
    """`report ID...`: each detection finished first where it is not yet (free: a paid id from
    an interrupted `detect` is finished here), then its report; custody from the result cache."""

    async def main() -> int:
        async with open_app(settings) as app:
            items = [await _finished(app, doc_id) for doc_id in args.ids]
            return print_run(await write_reports(app, items, args.out))

    try:
        return anyio.run(main)
    except KeyboardInterrupt:
        return 130


async def _finished(app: AppContext, doc_id: str) -> BatchItem:
    """The id once TruthScan's answer is settled (from the cache when it is; else fetched, waiting
    up to --wait-seconds), or why it cannot be reported."""
    try:
        report = await app.detector.get_result(doc_id, wait_seconds=app.settings.wait_seconds)
    except NotFoundError as exc:
        problem = SANDBOX_FORGETS if app.settings.sandbox else terminal_words(exc.message)
        return BatchItem(doc_id, None, problem=problem)
    except TruthScanError as exc:
        return BatchItem(doc_id, None, problem=terminal_words(exc.message))
    if not report.complete:
        return BatchItem(
            doc_id,
            None,
            problem=f"not finished after {app.settings.wait_seconds:g}s; run this again later "
            "(or with a longer --wait-seconds): it costs nothing",
        )
    return BatchItem(doc_id, report.id, report.verdict, report.ai_score, report.tier)
