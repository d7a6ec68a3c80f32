"""The content cache as the detector sees it: async, and never failing a detection.

Threading: one connection per store, used only from worker threads and one call at a time (an
`anyio.CapacityLimiter(1)`). One connection rather than one per call, because opening costs more
than the queries it would serve (file open, schema read, pragmas) and because our own calls then
never contend for SQLite's file locks; a queue of one is no bottleneck for statements that take
well under a millisecond next to HTTP round trips of hundreds. A started statement is never
abandoned on cancellation (`to_thread.run_sync` waits for it), so a transaction is never left
half-done by a cancelled tool call.

Failure policy: the cache only ever saves money; it must never cost a detection. Every public
method swallows storage errors, warns once per outage on stderr, and carries on. A file that is
corrupt, someone else's database, or of a newer schema is never used by this process. Anything
that passes — a lock held elsewhere, a full disk, an I/O error, a directory not writable yet —
pauses the store and it tries the file again after a pause that doubles while the trouble lasts
(`RETRY_FIRST` up to `RETRY_MAX`). Meanwhile what could not be written (paid documents, reports,
answers) is kept in memory (`unwritten`): this process answers from it, never paying twice for
the same bytes, and writes it down once the file takes writes again.
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

from truthscan_mcp.cache.claim_wait import ClaimState, user_scope, wait_for_claim
from truthscan_mcp.cache.database import (
    BUSY_TIMEOUT,
    CacheUnusableError,
    Database,
    is_full,
    is_locked,
    is_permanent,
    service_key,
)
from truthscan_mcp.cache.unwritten import Unwritten, Write
from truthscan_mcp.detection.schedule import (
    HISTORY_SIZE,
    PHASES,
    Duration,
    DurationHistory,
    MemoryDurations,
    PollPhase,
)
from truthscan_mcp.detection.store import ClaimWait, ContentKey, Hold, StoredResult
from truthscan_mcp.models import DetectionReport, History, HistoryEntry, ReportSource

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: After the file failed for a passing reason, how long the store stays out of its way before
#: trying again; each failure in a row doubles the pause, up to `RETRY_MAX`.
RETRY_FIRST = 1.0
RETRY_MAX = 30.0
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
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
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
        #: whose credits the ledger counts: the API's, or (with a prefix) every simulator's
        self.ledger_scope = history_prefix or self.service
        self._history_prefix = history_prefix
        self.claim_lease = claim_lease
        self._claim_poll = claim_poll
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._retry_first = retry_first
        self._retry_max = retry_max
        self._db: Database | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._disabled = False
        self._paused_until = 0.0
        #: the pause after the last failure; 0 while the file works
        self._pause = 0.0
        #: the pause is for a lock held elsewhere (reads would wait too)
        self._locked = False
        self._warned = False
        #: writes the file refused, and the facts they carry (answered from meanwhile)
        self._unwritten = Unwritten()
        self._replaying: anyio.Lock | None = None
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
        kept = self._unwritten.find(sha256, deep_analysis=deep_analysis, preview=preview)
        if kept is not None:
            return kept
        return await self._run(
            lambda db: db.find(self.service, sha256, deep_analysis=deep_analysis, preview=preview)
        )

    async def get(self, document_id: str) -> StoredResult | None:
        kept = self._unwritten.get(document_id)
        if kept is not None:
            return kept
        return await self._run(lambda db: db.get(self.service, document_id))

    async def record_submission(
        self,
        document_id: str,
        source: ReportSource,
        *,
        deep_analysis: bool,
        preview: bool,
        hold: str | None = None,
        user: str | None = None,
    ) -> None:
        """Called the moment TruthScan accepts a paid submission, before any waiting, so that
        the id survives a cancellation or a crash and the same bytes are not paid for again;
        its ledger row (the daily cap) is written in the same transaction."""
        at = self._clock()
        service, scope = self.service, self.scope_of(user)

        def write(db: Database) -> None:
            db.record_submission(
                service,
                document_id,
                source,
                deep_analysis=deep_analysis,
                preview=preview,
                at=at,
                scope=scope,
                hold=hold,
                user=user,
            )

        if not await self._write(write):
            stored = StoredResult(document_id, source, deep_analysis, preview, None, at, at)
            self._unwritten.submitted(stored, at=at)

    async def save_report(self, report: DetectionReport, *, deep_analysis: bool) -> None:
        if report.id is None:
            return
        service = self.service
        if not await self._write(lambda db: db.save_report(service, report, deep_analysis=deep_analysis)):
            self._unwritten.reported(report, deep_analysis=deep_analysis, at=self._clock())

    async def record_answer(
        self, document_id: str, source_name: str | None, *, user: str | None = None
    ) -> None:
        """A detect_image answered without paying (from the cache, or by joining another call)."""
        at, service = self._clock(), self.service
        if not await self._write(
            lambda db: db.record_answer(service, document_id, source_name, at=at, user=user)
        ):
            self._unwritten.answered(document_id, source_name, at=at)

    async def claim(self, key: ContentKey, holder: str) -> bool | None:
        return await self._run(
            lambda db: db.claim(self.service, key, holder, now=self._clock(), lease=self.claim_lease),
            write=True,
        )

    async def renew_claim(self, key: ContentKey, holder: str) -> bool | None:
        return await self._run(
            lambda db: db.renew_claim(self.service, key, holder, now=self._clock(), lease=self.claim_lease),
            write=True,
        )

    async def release_claim(self, key: ContentKey, holder: str) -> None:
        await self._run(lambda db: db.release_claim(self.service, key, holder), write=True)

    async def wait_claim(
        self, key: ContentKey, *, until: float, skip: str | None = None
    ) -> StoredResult | ClaimWait | None:
        """Poll the file (cheap: two indexed reads) until a document appears or the claim ends."""

        async def read_state() -> ClaimState:
            return await self._run(lambda db: db.claim_state(self.service, key, now=self._clock(), skip=skip))

        return await wait_for_claim(read_state, until=until, poll=self._claim_poll)

    # --- the ledger of paid detections (the daily cap) ----------------------------------------

    def scope_of(self, user: str | None) -> str:
        return user_scope(self.ledger_scope, user)

    async def spent_since(self, since: float, *, user: str | None = None) -> int | None:
        """From the file, plus what this process paid that the file has not taken yet (whoever
        paid it: a write the file refused does not say for whom, so it counts for everyone)."""
        scope = self.scope_of(user)
        counted = await self._run(lambda db: db.spent_since(scope, since, now=self._clock()))
        return None if counted is None else counted + self._unwritten.paid_since(since)

    async def hold(
        self, holder: str, count: int, *, limit: int, since: float, user: str | None = None
    ) -> Hold | None:
        scope, unwritten = self.scope_of(user), self._unwritten.paid_since(since)
        held = await self._run(
            lambda db: db.hold(scope, holder, count, limit=limit - unwritten, since=since, now=self._clock()),
            write=True,
        )
        return None if held is None else Hold(held.granted, held.used + unwritten)

    async def release(self, holder: str) -> None:
        with anyio.CancelScope(shield=True):
            await self._run(lambda db: db.release(holder), write=True)

    async def history(self, limit: int = HISTORY_SHOWN, *, user: str | None = None) -> History:
        """The latest answers (`user`'s alone, with per-user history); "degraded" while some are
        only in memory (the file is paused or has not taken them yet), "unavailable" when the
        file can never be used. What is only in memory does not say whose it is, so a user's
        history leaves it out."""
        if self._history_prefix is not None:
            prefix = self._history_prefix
            entries = await self._run(lambda db: db.history(prefix, limit, prefix=True, user=user))
        else:
            entries = await self._run(lambda db: db.history(self.service, limit, user=user))
        if entries is not None and not self._unwritten:
            return History(cache="on", detections=entries)
        kept = self._unwritten.history(limit) if user is None else []
        merged: list[HistoryEntry] = [*kept, *(entries or [])]
        merged.sort(key=lambda e: e.at, reverse=True)
        return History(cache="unavailable" if self._disabled else "degraded", detections=merged[:limit])

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
        stored = await self._run(lambda db: (db.record_durations(service, measured), True)[1], write=True)
        if stored is None:
            await self._memory.record_durations(api_url, durations)

    # --- plumbing ---------------------------------------------------------------------------

    def _get_limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return self._limiter

    async def _run(self, op: Callable[[Database], T], *, write: bool = False) -> T | None:
        """`op` on the file in a worker thread, or None when the file cannot tell. While paused,
        writes wait (the caller keeps them); reads still try the file — a full disk reads fine —
        unless the pause is for a lock, where every statement would wait out the busy timeout."""
        if self._disabled:
            return None
        paused = anyio.current_time() < self._paused_until
        if paused and (write or self._locked):
            return None
        try:
            replayed = False
            if self._unwritten and not paused:
                await self._replay()
                replayed = True
            result = await anyio.to_thread.run_sync(self._call, op, limiter=self._get_limiter())
        except (sqlite3.Error, OSError, CacheUnusableError) as exc:
            await self._failed(exc)
            return None
        if self._pause and (write or replayed or self._locked):
            self._pause, self._locked = 0.0, False
            self._warned = False  # the next outage is reported again
            logger.info("The result cache %s works again.", self.path)
        return result

    async def _write(self, write: Write) -> bool:
        """Whether the file took `write`; if not, it is kept and replayed once the file recovers
        (the caller keeps the facts it carries, to answer from meanwhile)."""
        if await self._run(lambda db: (write(db), True)[1], write=True):
            return True
        if not self._disabled:
            self._unwritten.keep(write)
        return False

    async def _replay(self) -> None:
        """Write down, in order, what the file refused before; raises where it refuses again."""
        if self._replaying is None:
            self._replaying = anyio.Lock()
        async with self._replaying:
            writes = self._unwritten.writes
            while writes:
                await anyio.to_thread.run_sync(self._call, writes[0], limiter=self._get_limiter())
                del writes[0]
            self._unwritten.clear()

    def _call(self, op: Callable[[Database], T]) -> T:
        if self._db is None:
            self._db = Database(self.path, busy_timeout=self._busy_timeout)
        return op(self._db)

    async def _failed(self, exc: Exception) -> None:
        if is_permanent(exc):
            self._disabled = True
            self._unwritten.writes.clear()  # never to be written: only the facts stay, for answers
            await self.aclose()
            message = (
                f"The result cache {self.path} cannot be used ({exc}). Detections go on without it: "
                "this server still answers repeated images from memory, but after a restart they "
                "will be paid for again. Delete the file yourself if it is an old cache, or set "
                "TRUTHSCAN_CACHE_PATH to another file (or 'off')."
            )
        else:
            self._pause = self._retry_first if not self._pause else min(self._retry_max, self._pause * 2)
            self._paused_until = anyio.current_time() + self._pause
            self._locked = is_locked(exc)
            if not is_locked(exc):
                await self.aclose()  # opened afresh on the next try: the trouble may be the handle
            if is_locked(exc):
                why = f"is locked by another process ({exc})"
            elif is_full(exc):
                why = f"cannot be written: the disk is full ({exc})"
            else:
                why = f"cannot be used for now ({exc})"
            message = (
                f"The result cache {self.path} {why}. Detections go on; what could not be written is "
                f"kept in memory (a repeated image is not paid for again) and written down once the "
                f"file works again; the next try is in {self._pause:g}s."
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
