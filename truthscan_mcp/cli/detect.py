"""`truthscan-mcp detect IMAGE...`: the detection of `detect_images`, for a person or a script.

Results go to stdout in the chosen format, everything else (the live line, skipped files,
errors) to stderr, so the command composes in pipelines. Every image of the run is one
parallel batch whatever the arguments were; see `run` for how more than 100 are split.
Ctrl-C stops waiting at once and prints what is known — each paid detection with its id.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import nullcontext

import anyio
from rich.console import Console
from rich.text import Text

from truthscan_mcp.app import open_app
from truthscan_mcp.cli.formats import jsonl_line, write_csv, write_json, write_jsonl_row
from truthscan_mcp.cli.inputs import Gathered, gather
from truthscan_mcp.cli.report import item_of_row, print_run, write_reports
from truthscan_mcp.cli.run import run_all
from truthscan_mcp.cli.tally import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, RowListener, Tally
from truthscan_mcp.cli.view import console_for, live_line, print_report, print_table
from truthscan_mcp.cli.words import terminal_words
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.evidence.export import ReportRun
from truthscan_mcp.sanitize import clean_line
from truthscan_mcp.settings import Settings


def run_detect(settings: Settings, args: argparse.Namespace) -> int:
    """The command's exit status (see `truthscan-mcp detect --help`). A Ctrl-C before the run
    (reading stdin, listing a large folder) ends it without a traceback too; a reader that
    stops early (`| head`) ends it quietly."""
    try:
        return _run_detect(settings, args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Python would report the pipe again while flushing stdout on the way out
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _run_detect(settings: Settings, args: argparse.Namespace) -> int:
    fmt: str = "json" if args.json else (args.format or "table")
    err = console_for(sys.stderr)
    if args.images.count("-") > 1:
        err.print("truthscan-mcp detect: error: `-` (stdin) can be given once", style="red")
        return EXIT_USAGE
    gathered = gather(
        args.images, settings, recursive=args.recursive, pattern=args.pattern, stdin=sys.stdin.buffer
    )
    if (args.recursive or args.pattern) and not gathered.folders:
        err.print(
            "truthscan-mcp detect: error: --recursive and --pattern apply to folders, and no IMAGE "
            "argument is a folder",
            style="red",
        )
        return EXIT_USAGE
    _notes(err, gathered)
    if not gathered.inputs:
        return EXIT_FAILED
    tally = Tally(gathered.inputs, with_analysis=not args.no_deep_analysis)
    out = console_for(sys.stdout)
    # rows streamed to the terminal the live line is on go through its console, which prints
    # them above the line instead of after it; to a pipe they go as they are
    screen = out if fmt == "jsonl" and out.is_terminal else err
    if fmt == "jsonl":
        tally.listeners.append(_streamer(tally, out if out.is_terminal else None))
    options = DetectOptions(deep_analysis=not args.no_deep_analysis, wait_seconds=settings.wait_seconds)
    reports: ReportRun | None = None
    try:
        reports = anyio.run(_detect, settings, tally, options, bool(args.allow_partial), screen, args.report)
    except KeyboardInterrupt:
        tally.interrupted = True
    _finish(fmt, tally, gathered, err)
    code = tally.exit_code(args.fail_on)
    if reports is not None and print_run(reports) and code == EXIT_OK:
        code = EXIT_FAILED  # every image answered, but a report could not be written
    return code


def _notes(err: Console, gathered: Gathered) -> None:
    for skipped in gathered.skipped:
        line = Text("skipped ", style="yellow")
        line.append(f"{clean_line(skipped.source)}: {clean_line(skipped.reason)}")
        err.print(line)
    for problem in gathered.problems:
        err.print(Text("error: " + terminal_words(problem), style="red"))


def _streamer(tally: Tally, terminal: Console | None) -> RowListener:
    async def stream(index: int) -> None:
        if terminal is None:
            write_jsonl_row(sys.stdout, tally, index)
        else:
            terminal.print(Text(jsonl_line(tally, index)), soft_wrap=True)

    return stream


async def _detect(
    settings: Settings,
    tally: Tally,
    options: DetectOptions,
    allow_partial: bool,
    screen: Console,
    report_dir: str | None = None,
) -> ReportRun | None:
    """The run, then (with `--report DIR`) each image's evidence report, while the detector still
    holds what it witnessed (a downloaded image's bytes, the custody of this run)."""
    live = live_line(screen, tally) if screen.is_terminal else nullcontext()
    async with open_app(settings) as app:
        with live:
            await run_all(app, tally, options, allow_partial=allow_partial)
        if report_dir is None:
            return None
        return await write_reports(app, [item_of_row(row) for row in tally.final_rows()], report_dir)


def _finish(fmt: str, tally: Tally, gathered: Gathered, err: Console) -> None:
    refused = {e.message for e in tally.refusals}
    every_row_refused = len(refused) == 1 and all(
        row.error == terminal_words(next(iter(refused))) for row in tally.final_rows()
    )
    if tally.refusals:
        for message in refused:
            err.print(Text("error: " + terminal_words(message), style="red"))
    if fmt == "json":
        write_json(sys.stdout, tally, gathered.skipped)
    elif fmt == "csv":
        write_csv(sys.stdout, tally)
    elif fmt == "jsonl":
        for index, row in enumerate(tally.final_rows()):
            if not tally.settled[index]:
                write_jsonl_row(sys.stdout, tally, index, row)
    elif not every_row_refused:
        out = console_for(sys.stdout)
        if tally.total == 1:
            print_report(out, tally, tally.reports[0])
        else:
            print_table(out, tally)
    for warning in dict.fromkeys(tally.warnings):
        err.print(Text("note: " + terminal_words(warning), style="yellow"))
