"""One parallel run over any number of images: batches of 100 side by side, one spending limit.

`detect_images` takes at most 100 images a call; a person's folder may hold 300. The run splits
them, starts every batch at once and shares one concurrency limit between them, so 300 images
cost what they would as one batch: the uploads queue for the same slots and every image waits
for its verdict at the same time. Each batch validates its images and checks the credits before
spending anything; a batch refused as a whole (no key, too few credits) is its rows' error.
"""

from __future__ import annotations

import anyio

from truthscan_mcp.app import AppContext
from truthscan_mcp.cli.tally import Tally
from truthscan_mcp.detection.batch import MAX_BATCH, run_batch
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.errors import TruthScanError


async def run_all(app: AppContext, tally: Tally, options: DetectOptions, *, allow_partial: bool) -> None:
    """Detect every input of `tally`, filling it in as rows settle.

    Batches side by side cannot each say what they spent (each reads the balance while the
    others spend too), so a run of several reads the balance itself, before and after. Nor can
    each check the credits cover the run: when the balance is short of one credit an image, the
    batches run one after another, so each checks what the ones before it left.
    """
    spend = anyio.CapacityLimiter(app.settings.max_concurrency)
    tally.simulated = app.detector.simulated
    several = tally.total > MAX_BATCH
    before = await _balance(app) if several else None
    offsets = range(0, tally.total, MAX_BATCH)
    if before is not None and before < tally.total:
        for offset in offsets:
            await _one_batch(app, tally, options, offset, spend, allow_partial)
    else:
        async with anyio.create_task_group() as group:
            for offset in offsets:
                group.start_soon(_one_batch, app, tally, options, offset, spend, allow_partial)
    if several:
        after = await _balance(app) if before is not None else None
        tally.credits_spent = [before - after if before is not None and after is not None else None]


async def _balance(app: AppContext) -> int | None:
    try:
        return (await app.detector.credits()).credits
    except TruthScanError:
        return None  # unknown rather than a failed run (no key: each batch says so itself)


async def _one_batch(
    app: AppContext,
    tally: Tally,
    options: DetectOptions,
    offset: int,
    spend: anyio.CapacityLimiter,
    allow_partial: bool,
) -> None:
    inputs = tally.inputs[offset : offset + MAX_BATCH]

    async def progress(done: float, total: int, message: str) -> None:
        tally.done_by_batch[offset] = done

    try:
        result = await run_batch(
            app.detector,
            inputs,
            options=options,
            allow_partial=allow_partial,
            max_concurrency=app.settings.max_concurrency,
            progress=progress,
            watch=tally.watch(offset),
            spend=spend,
        )
    except TruthScanError as exc:
        await tally.refuse(offset, len(inputs), exc)
        return
    tally.credits_spent.append(result.totals.credits_spent)
    tally.simulated = tally.simulated or result.simulated
    tally.warnings.extend(result.warnings)
