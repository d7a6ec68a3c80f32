"""The content cache as the detector sees it: async, and never failing a detection.

Threading: one connection per store, used only from worker threads and one call at a time (an
`anyio.CapacityLimiter(1)`). One connection rather than one per call, because opening costs more
than the queries it would serve (file open, schema read, pragmas) and because our own calls then
never contend for SQLite's file locks; a queue of one is no bottleneck for statements that take
well under a millisecond next to HTTP round trips of hundreds. A started statement is never
abandoned on cancellation (`to_thread.run_sync` waits for it), so a transaction is never left
half-done by a cancelled tool call.

Failure policy: the cache only ever saves money; it must never cost a detection. Every public
method swallows storage errors, warns once on stderr, and carries on as if there were no cache.
A file that is corrupt, read-only, unopenable, someone else's database, or of a newer schema
disables the store for the life of the process; a file locked by another process only pauses
it for a while, since that is usually momentary.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from truthscan_mcp.cache.database import (
    BUSY_TIMEOUT,
    CacheUnusableError,
    Database,
    is_garbage,
    is_locked,
    service_key,
)
from truthscan_mcp.detection.schedule import (
    HISTORY_SIZE,
    PHASES,
    Duration,
    DurationHistory,
    MemoryDurations,
    PollPhase,
)
from truthscan_mcp.detection.store import ClaimWait, ContentKey, StoredResult
from truthscan_mcp.models import DetectionReport, History, ReportSource

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: After a lock held elsewhere, how long the store stays out of the way before trying again.
LOCKED_PAUSE = 30.0
#: History rows a reader gets by default.
HISTORY_SHOWN = 50
#: How long a claim stands unrenewed: how long a crashed claimer can keep another process waiting.
CLAIM_LEASE = 15.0
#: How often a process waiting on another's claim looks at the file again.
CLAIM_POLL = 0.1


class ResultCache:
    """The cache as the detection workflow sees it: async, and never failing a detection."""

    def __init__(
        self,
        path: Path,
        *,
        service: str,
        busy_timeout: float = BUSY_TIMEOUT,
        locked_pause: float = LOCKED_PAUSE,
        history_prefix: str | None = None,
        claim_lease: float = CLAIM_LEASE,
        claim_poll: float = CLAIM_POLL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`history_prefix`: the history shows every service whose key starts with it, not only
        `service` (each `--sandbox` run has a namespace of its own, and its user wants them all).
        `clock` is the wall clock claims expire by, shared by every process on the machine."""
        self.path = path
        self.service = service_key(service)
        self._history_prefix = history_prefix
        self.claim_lease = claim_lease
        self._claim_poll = claim_poll
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._locked_pause = locked_pause
        self._db: Database | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._disabled = False
        self._paused_until = 0.0
        self._warned = False
        #: where durations go while the file cannot take them
        self._memory = MemoryDurations()

    async def open(self) -> bool:
        """Try the file now, so a broken cache is reported at start-up, not mid-detection."""
        return await self._run(lambda db: True) is not None

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(db.close, limiter=self._get_limiter())
            except sqlite3.Error:
                logger.debug("closing the result cache failed", exc_info=True)

    async def find(self, sha256: str, *, deep_analysis: bool, preview: bool) -> StoredResult | None:
        return await self._run(
            lambda db: db.find(self.service, sha256, deep_analysis=deep_analysis, preview=preview)
        )

    async def get(self, document_id: str) -> StoredResult | None:
        return await self._run(lambda db: db.get(self.service, document_id))

    async def record_submission(
        self, document_id: str, source: ReportSource, *, deep_analysis: bool, preview: bool
    ) -> None:
        """Called the moment TruthScan accepts a paid submission, before any waiting, so that
        the id survives a cancellation or a crash and the same bytes are not paid for again."""
        await self._run(
            lambda db: db.record_submission(
                self.service, document_id, source, deep_analysis=deep_analysis, preview=preview
            )
        )

    async def save_report(self, report: DetectionReport, *, deep_analysis: bool) -> None:
        if report.id is None:
            return
        await self._run(lambda db: db.save_report(self.service, report, deep_analysis=deep_analysis))

    async def record_answer(self, document_id: str, source_name: str | None) -> None:
        """A detect_image answered without paying (from the cache, or by joining another call)."""
        await self._run(lambda db: db.record_answer(self.service, document_id, source_name))

    async def claim(self, key: ContentKey, holder: str) -> bool | None:
        return await self._run(
            lambda db: db.claim(self.service, key, holder, now=self._clock(), lease=self.claim_lease)
        )

    async def renew_claim(self, key: ContentKey, holder: str) -> bool | None:
        return await self._run(
            lambda db: db.renew_claim(self.service, key, holder, now=self._clock(), lease=self.claim_lease)
        )

    async def release_claim(self, key: ContentKey, holder: str) -> None:
        await self._run(lambda db: db.release_claim(self.service, key, holder))

    async def wait_claim(
        self, key: ContentKey, *, until: float, skip: str | None = None
    ) -> StoredResult | ClaimWait | None:
        """Poll the file (cheap: two indexed reads) until a document appears or the claim ends."""
        while True:
            state = await self._run(
                lambda db: db.claim_state(self.service, key, now=self._clock(), skip=skip)
            )
            if state is None:
                return None
            if state is False:
                return "free"
            if state is not True:
                return state
            if anyio.current_time() >= until:
                return "held"
            await anyio.sleep(min(self._claim_poll, max(0.0, until - anyio.current_time())))

    async def history(self, limit: int = HISTORY_SHOWN) -> History:
        if self._history_prefix is not None:
            prefix = self._history_prefix
            entries = await self._run(lambda db: db.history(prefix, limit, prefix=True))
        else:
            entries = await self._run(lambda db: db.history(self.service, limit))
        if entries is None:
            return History(cache="unavailable", detections=[])
        return History(cache="on", detections=entries)

    # --- the poll planner's history (a `detection.schedule.DurationSource`) --------------------

    async def durations(self, api_url: str) -> DurationHistory:
        """The newest `HISTORY_SIZE` durations per phase for `api_url`; memory's while the file fails."""
        service = service_key(api_url)
        rows = await self._run(lambda db: db.durations(service, HISTORY_SIZE))
        if rows is None:
            return await self._memory.durations(api_url)
        by_phase: dict[PollPhase, list[Duration]] = {phase: [] for phase in PHASES}
        for phase, seconds, within in rows:
            for known in PHASES:
                if phase == known:
                    by_phase[known].append(Duration(seconds, within))
        return DurationHistory(**{phase: tuple(found) for phase, found in by_phase.items()})

    async def record_durations(self, api_url: str, durations: Mapping[PollPhase, Duration]) -> None:
        service = service_key(api_url)
        # Only what a history would keep (finite, non-negative), in the history's own terms.
        kept = DurationHistory().adding(durations)
        measured = [(p, d.seconds, d.within) for p in PHASES for d in kept.of(p)]
        if not measured:
            return
        stored = await self._run(lambda db: (db.record_durations(service, measured), True)[1])
        if stored is None:
            await self._memory.record_durations(api_url, durations)

    # --- plumbing ---------------------------------------------------------------------------

    def _get_limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return self._limiter

    async def _run(self, op: Callable[[Database], T]) -> T | None:
        if self._disabled or anyio.current_time() < self._paused_until:
            return None
        try:
            return await anyio.to_thread.run_sync(self._call, op, limiter=self._get_limiter())
        except (sqlite3.Error, OSError, CacheUnusableError) as exc:
            await self._failed(exc)
            return None

    def _call(self, op: Callable[[Database], T]) -> T:
        if self._db is None:
            self._db = Database(self.path, busy_timeout=self._busy_timeout)
        return op(self._db)

    async def _failed(self, exc: Exception) -> None:
        if is_locked(exc):
            self._paused_until = anyio.current_time() + self._locked_pause
            message = (
                f"The result cache {self.path} is locked by another process ({exc}); detections go on "
                f"without it for the next {self._locked_pause:g}s, so a repeated image may be paid for again."
            )
        else:
            self._disabled = True
            await self.aclose()
            hint = (
                "Delete the file or run `truthscan-mcp cache clear` to start a fresh cache."
                if is_garbage(exc)
                else "Check the path and its permissions, or set TRUTHSCAN_CACHE_PATH (or 'off')."
            )
            message = (
                f"The result cache {self.path} cannot be used ({exc}). Detections go on without it, so "
                f"repeated images will be paid for again. {hint}"
            )
        if not self._warned:
            self._warned = True
            logger.warning("%s", message)
        else:
            logger.debug("%s", message)


@contextlib.asynccontextmanager
async def open_cache(
    path: Path | None, *, service: str, history_prefix: str | None = None
) -> AsyncGenerator[ResultCache | None]:
    """The store for a server's lifetime, or None when the cache is off."""
    if path is None:
        yield None
        return
    cache = ResultCache(path, service=service, history_prefix=history_prefix)
    await cache.open()
    try:
        yield cache
    finally:
        await cache.aclose()
