"""The machine-readable outputs of `detect`: json, jsonl and csv, all from the one `Tally`.

`json` is one document of one shape whatever the inputs — `{"results": [row, …], "totals": {…}}`
plus `skipped` (files a folder held that are not images) and `simulated` —, `jsonl` one row per
line as each image finishes (the rows a Ctrl-C leaves unfinished follow at the end), `csv` a
header and a row per image, nested fields flattened to what a spreadsheet can show.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from typing import Any, TextIO

from truthscan_mcp.cli.inputs import Skipped
from truthscan_mcp.cli.tally import Tally, field_of
from truthscan_mcp.models import BatchRow
from truthscan_mcp.sanitize import clean_line, clean_text

#: what `json.dumps(ensure_ascii=False)` leaves raw and a terminal may obey: DEL and the C1
#: controls (U+0080-U+009F; U+009B is an 8-bit CSI). It escapes C0 itself.
_RAW_CONTROLS = re.compile("[\x7f-\x9f]")


def dumps(value: Any, *, indent: int | None = None) -> str:
    """JSON for a terminal or a pipe: non-ASCII text kept readable, every control escaped.

    The values are exact (a file name's control characters come back on parsing), but none
    reaches the terminal raw: they can only occur inside strings, where a `u00XX` escape is their JSON."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return _RAW_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_json(out: TextIO, tally: Tally, skipped: Sequence[Skipped]) -> None:
    document = {
        "results": [tally.row_dict(index) for index in range(tally.total)],
        "totals": tally.totals().model_dump(mode="json"),
        "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
        "simulated": tally.simulated,
        "interrupted": tally.interrupted,
    }
    out.write(dumps(document, indent=2) + "\n")
    out.flush()


def jsonl_line(tally: Tally, index: int, row: BatchRow | None = None) -> str:
    return dumps(tally.row_dict(index, row))


def write_jsonl_row(out: TextIO, tally: Tally, index: int, row: BatchRow | None = None) -> None:
    out.write(jsonl_line(tally, index, row) + "\n")
    out.flush()


#: the csv columns: a `detect_images` row, `provenance` as its finding, `analysis` as its reasoning
CSV_COLUMNS = (
    "source",
    "name",
    "verdict",
    "ai_score",
    "tier",
    "confidence_band",
    "provenance",
    "id",
    "complete",
    "cached",
    "duplicate_of",
    "error",
)
#: cells a spreadsheet would run as a formula; a file name or an error text may start so
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_csv(out: TextIO, tally: Tally) -> None:
    columns = [*CSV_COLUMNS, *(("analysis",) if tally.with_analysis else ())]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for index in range(tally.total):
        row = tally.row_dict(index)
        writer.writerow([_cell(name, row.get(name)) for name in columns])
    out.write(buffer.getvalue())
    out.flush()


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "provenance":
        return str(field_of(value, "finding") or "")
    if name == "analysis":
        return clean_text(field_of(value, "reasoning") or "", multiline=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = clean_line(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
