"""`truthscan-mcp detect IMAGE...`: the same detection for a person at a terminal.

Progress goes to stderr, reports to stdout (text, or JSON with --json), so the command composes
in shell pipelines. The exit status is 0 when every image got a verdict, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TypedDict

import anyio

from truthscan_mcp.adapter.render import render_batch, render_report
from truthscan_mcp.app import open_app
from truthscan_mcp.detection.batch import expand_inputs, run_batch
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.detection.progress import Progress
from truthscan_mcp.errors import TruthScanError
from truthscan_mcp.models import BatchResult, DetectionReport
from truthscan_mcp.settings import Settings


class _Source(TypedDict, total=False):
    """The one source argument of `Detector.detect` a command-line argument names."""

    path: str
    url: str
    data: str


def _source_of(arg: str) -> _Source:
    if arg.startswith(("http://", "https://")):
        return {"url": arg}
    if arg.startswith("data:"):
        return {"data": arg}
    return {"path": arg}


def run_detect(settings: Settings, args: argparse.Namespace) -> int:
    if args.recursive or args.pattern or any(Path(a).expanduser().is_dir() for a in args.images):
        return anyio.run(_detect_batch, settings, args)
    return anyio.run(_detect_all, settings, args)


async def _detect_batch(settings: Settings, args: argparse.Namespace) -> int:
    """Directories (and --recursive/--pattern) go through the batch workflow, as `detect_images`."""
    options = DetectOptions(
        deep_analysis=not args.no_deep_analysis,
        wait_seconds=settings.wait_seconds if args.wait is None else args.wait,
        force=bool(args.force),
    )
    interactive = sys.stderr.isatty()

    finished = [-1]

    async def progress(done: float, total: int, message: str) -> None:
        # A log (not a terminal) gets one line per finished image, not every poll of every image.
        if not interactive and int(done) == finished[0]:
            return
        finished[0] = int(done)
        line = f"[{int(done)}/{total}] {message}"
        sys.stderr.write(("\r\033[K" + line) if interactive else line + "\n")
        sys.stderr.flush()

    async with open_app(settings) as app:
        try:
            results: list[BatchResult] = []
            for arg in args.images:
                is_dir = await (await anyio.Path(arg).expanduser()).is_dir()
                inputs = await expand_inputs(
                    settings,
                    directory=arg if is_dir else None,
                    paths=None if is_dir or arg.startswith(("http://", "https://")) else [arg],
                    urls=[arg] if arg.startswith(("http://", "https://")) else None,
                    pattern=args.pattern if is_dir else None,
                    recursive=bool(args.recursive),
                )
                results.append(
                    await run_batch(
                        app.detector,
                        inputs,
                        options=options,
                        allow_partial=bool(args.allow_partial),
                        max_concurrency=settings.max_concurrency,
                        progress=progress,
                    )
                )
        except TruthScanError as exc:
            sys.stderr.write(f"\nerror: {exc.message}\n")
            return 1
    if interactive:
        sys.stderr.write("\n")
    if args.json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in results], indent=2) + "\n")
    else:
        sys.stdout.write("\n\n".join(render_batch(r) for r in results) + "\n")
    failed = any(r.totals.errors or r.totals.incomplete for r in results)
    return 1 if failed else 0


async def _detect_all(settings: Settings, args: argparse.Namespace) -> int:
    """Several images run side by side (TRUTHSCAN_MAX_CONCURRENCY at a time); the reports are
    printed in the order the images were given, each as soon as it and those before it are done."""
    options = DetectOptions(
        deep_analysis=not args.no_deep_analysis,
        wait_seconds=settings.wait_seconds if args.wait is None else args.wait,
        include_heatmap=bool(args.heatmap),
        force=bool(args.force),
    )
    images: list[str] = list(args.images)
    # A live one-line display only makes sense for one image at a time.
    single_line = sys.stderr.isatty() and len(images) == 1
    outcomes: list[DetectionReport | TruthScanError | None] = [None] * len(images)
    printed = 0
    results: list[dict[str, Any]] = []

    def flush_ready() -> None:
        nonlocal printed
        while printed < len(images) and outcomes[printed] is not None:
            image, outcome = images[printed], outcomes[printed]
            if isinstance(outcome, TruthScanError):
                results.append({"input": image, "error": outcome.message, "code": outcome.code})
            elif outcome is not None:
                if args.json:
                    results.append({"input": image, "report": outcome.model_dump(mode="json")})
                else:
                    sys.stdout.write(render_report(outcome) + "\n\n")
                    sys.stdout.flush()
            printed += 1

    async with open_app(settings) as app:
        limiter = anyio.CapacityLimiter(settings.max_concurrency)

        async def one(index: int) -> None:
            image = images[index]

            async def progress(p: Progress) -> None:
                line = f"[{p.fraction * 100:3.0f}%] {image}: {p.message}"
                sys.stderr.write(("\r\033[K" + line) if single_line else line + "\n")
                sys.stderr.flush()

            async with limiter:
                try:
                    outcomes[index] = await app.detector.detect(
                        **_source_of(image), options=options, progress=progress
                    )
                except TruthScanError as exc:
                    outcomes[index] = exc
                    sys.stderr.write(("\n" if single_line else "") + f"{image}: error: {exc.message}\n")
                else:
                    if single_line:
                        sys.stderr.write("\n")
            flush_ready()

        async with anyio.create_task_group() as group:
            for index in range(len(images)):
                group.start_soon(one, index)
    if args.json:
        payload: Any = results[0] if len(results) == 1 else results
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    failures = sum(
        1
        for outcome in outcomes
        if not isinstance(outcome, DetectionReport) or outcome.status == "failed" or outcome.verdict is None
    )
    return 1 if failures else 0
