"""The one result model of a terminal run, built from the rows `detect_images` returns.

Every output format (the table, the full report, json, jsonl, csv) reads this and nothing
else, so they cannot disagree. It fills in as the batches report (`BatchWatch`): each row when
it settles, each TruthScan id as soon as it is known. So when the person presses Ctrl-C, what
is known so far — every paid detection with its id — is here to print.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from truthscan_mcp.cli.detect_options import TIERS
from truthscan_mcp.cli.words import terminal_words
from truthscan_mcp.detection.batch import BatchInput
from truthscan_mcp.errors import ConfigurationError, InvalidKeyError, TruthScanError
from truthscan_mcp.models import BatchRow, BatchTotals, DetectionReport, Tier

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIGURATION, EXIT_TIER, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

NOT_SENT = "Stopped before it was sent to TruthScan: nothing was spent on it."

RowListener = Callable[[int], Awaitable[None]]


def field_of(value: object, key: str) -> object:
    """`value[key]` when `value` is a JSON object (a dumped model, e.g. a row's provenance)."""
    if isinstance(value, dict):
        return cast("dict[str, object]", value).get(key)
    return None


def _display_name(item: BatchInput) -> str:
    if item.kind == "data":
        return "stdin"
    if item.kind == "url":
        return item.value
    return Path(item.value).name or item.value


class Tally:
    """Rows by input index, the reports behind them, the ids known, and the run's totals."""

    def __init__(self, inputs: list[BatchInput], *, with_analysis: bool) -> None:
        self.inputs = inputs
        self.with_analysis = with_analysis
        self.rows = [BatchRow(source=item.value, name=_display_name(item)) for item in inputs]
        self.reports: list[DetectionReport | None] = [None] * len(inputs)
        self.settled = [False] * len(inputs)
        #: every id known by row, and the rows whose detection this run paid for
        self.ids: dict[int, str] = {}
        self.paid: set[int] = set()
        #: images done per batch (fractions for those under way), for the time left
        self.done_by_batch: dict[int, float] = {}
        self.credits_spent: list[int | None] = []
        self.refusals: list[TruthScanError] = []
        self.simulated = False
        self.interrupted = False
        self.warnings: list[str] = []
        self.started = time.monotonic()
        #: called with a row's index once it is final (the jsonl stream, the live line)
        self.listeners: list[RowListener] = []

    # --- filled in by the batches ----------------------------------------------------------

    def watch(self, offset: int) -> _BatchWatch:
        return _BatchWatch(self, offset)

    async def known(self, index: int, document_id: str, *, paid: bool) -> None:
        self.ids[index] = document_id
        if paid:
            self.paid.add(index)

    async def settle(self, index: int, row: BatchRow, report: DetectionReport | None) -> None:
        if row.error:
            row = row.model_copy(update={"error": terminal_words(row.error)})
        if row.id:
            self.ids[index] = row.id
        self.rows[index], self.reports[index], self.settled[index] = row, report, True
        for listener in self.listeners:
            await listener(index)

    async def refuse(self, offset: int, count: int, error: TruthScanError) -> None:
        """A batch refused as a whole (no key, not enough credits): before it spent anything."""
        self.refusals.append(error)
        for index in range(offset, offset + count):
            if not self.settled[index]:
                row = self.rows[index].model_copy(update={"error": error.message})
                await self.settle(index, row, None)

    # --- read by the outputs -----------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.inputs)

    @property
    def finished(self) -> int:
        return sum(self.settled)

    @property
    def errors(self) -> int:
        return sum(1 for index, row in enumerate(self.rows) if self.settled[index] and row.error)

    @property
    def cached(self) -> int:
        return sum(1 for index, row in enumerate(self.rows) if self.settled[index] and row.cached)

    def time_left(self) -> float | None:
        """Seconds left at the pace so far, or None before anything moved."""
        done = sum(self.done_by_batch.values())
        if done <= 0.05:
            return None
        return (time.monotonic() - self.started) * (self.total - done) / done

    def final_rows(self) -> list[BatchRow]:
        """Every row: as settled, or — after Ctrl-C — as far as it got (its id when it has one)."""
        return [self.final_row(index) for index in range(self.total)]

    def final_row(self, index: int) -> BatchRow:
        row = self.rows[index]
        if self.settled[index]:
            return row
        document_id = self.ids.get(index)
        if document_id is None:
            return row.model_copy(update={"error": NOT_SENT})
        return row.model_copy(update={"id": document_id, "cached": index not in self.paid})

    def row_dict(self, index: int, row: BatchRow | None = None) -> dict[str, Any]:
        """One row as every format shows it: a `detect_images` row, with the report's
        provenance (when the row lacks it) and, when it was asked for, its analysis."""
        row = row or self.final_row(index)
        out = row.model_dump(mode="json")
        report = self.reports[index]
        if "provenance" not in out:
            out["provenance"] = (
                report.provenance.model_dump(mode="json") if report and report.provenance else None
            )
        if self.with_analysis:
            out["analysis"] = report.analysis.model_dump(mode="json") if report and report.analysis else None
        return out

    def totals(self) -> BatchTotals:
        rows = self.final_rows()
        spent: int | None = None
        if not self.paid:
            spent = 0
        elif not self.interrupted and self.credits_spent and None not in self.credits_spent:
            spent = sum(c for c in self.credits_spent if c is not None)
        return BatchTotals(
            total=len(rows),
            complete=sum(1 for r in rows if r.complete and r.error is None),
            incomplete=sum(1 for r in rows if not r.complete and r.error is None),
            errors=sum(1 for r in rows if r.error is not None),
            verdicts=dict(Counter(r.verdict for r in rows if r.verdict and r.error is None)),
            detections_paid=len(self.paid),
            credits_spent=spent,
            cached=sum(1 for r in rows if r.cached and r.error is None),
        )

    def exit_code(self, fail_on: Tier | None) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if any(isinstance(e, (ConfigurationError, InvalidKeyError)) for e in self.refusals):
            return EXIT_CONFIGURATION
        rows = self.final_rows()
        if fail_on is not None:
            bar = TIERS.index(fail_on)
            if any(r.tier is not None and TIERS.index(r.tier) >= bar for r in rows):
                return EXIT_TIER
        return EXIT_FAILED if any(r.error or not r.complete for r in rows) else EXIT_OK


@dataclass
class _BatchWatch:
    """One batch's view of the tally: its row indexes start at `offset`."""

    tally: Tally
    offset: int

    async def known(self, index: int, document_id: str, *, paid: bool) -> None:
        await self.tally.known(self.offset + index, document_id, paid=paid)

    async def settled(self, index: int, row: BatchRow, report: DetectionReport | None) -> None:
        await self.tally.settle(self.offset + index, row, report)
