"""The shared store of a team deployment on PostgreSQL: what the SQLite cache is for one machine.

Selected by `TRUTHSCAN_CACHE_URL=postgresql://…` (psycopg 3, async, one connection pool per
replica; the `postgres` extra). Every replica reads and writes the same rows, so the same bytes
are paid for once across all of them and `get_result` works on any.

Single flight across replicas is a **claim row with a lease** (`truthscan_claims`), the same
protocol as the SQLite store's, not an advisory lock: an advisory lock lives as long as one
connection, so a replica would have to hold a pooled connection for the whole of a detection
(up to minutes: pool exhaustion under load), would lose the lock on any connection blip (and
two replicas would pay), and a replica hung but connected would hold it for ever. A row with
an expiry, renewed while the holder works, survives connection churn and lapses by itself
when its replica dies, so another finishes the job. Leases run on the database's clock: the
one clock every replica shares, whatever machine it runs on.

Failure policy, as for the SQLite store: the store only ever saves money; it never costs a
detection. Every method gives up within `STATEMENT_BUDGET` seconds, returns None (or does
nothing) on any database trouble, warns once per outage, and leaves the database alone for a
pause that doubles while the trouble lasts. Meanwhile what could not be written is kept in
memory (`Unwritten`): this replica answers from it, never paying twice for bytes it paid for,
and writes it down when the database is back. A schema newer than this version's is never
used.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from truthscan_mcp.cache import postgres_ledger as ledger
from truthscan_mcp.cache.claim_wait import ClaimState, user_scope, wait_for_claim
from truthscan_mcp.cache.database import CacheUnusableError, service_key
from truthscan_mcp.cache.postgres_rows import PER_ANSWER_FIELDS, RESULT_COLUMNS, history_entry, stored
from truthscan_mcp.cache.postgres_schema import migrate
from truthscan_mcp.cache.unwritten import Unwritten
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
AsyncWrite = Callable[[AsyncConnection], Awaitable[object]]

#: The longest one store call may take, connecting included, before the detection goes on without it.
STATEMENT_BUDGET = 3.0
#: How long a call waits for a pooled connection (a database that is down fails within it).
POOL_WAIT = 2.0
#: Connections per replica: a detection makes a handful of short statements.
POOL_SIZE = 8
RETRY_FIRST = 1.0
RETRY_MAX = 30.0
HISTORY_SHOWN = 50
CLAIM_LEASE = 15.0
CLAIM_POLL = 0.1
HISTORY_KEPT = 10_000
DURATIONS_KEPT = 200
#: The database's clock, in seconds: what leases expire by.
_DB_NOW = "extract(epoch from clock_timestamp())"
_CLAIM_KEY = "service = %s AND sha256 = %s AND deep_analysis = %s AND preview = %s"


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    with contextlib.suppress(psycopg.Error, ValueError):
        info = conninfo_to_dict(url)
        return f"postgresql://{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    return "the PostgreSQL store"


class PostgresStore:
    """The store as the detection workflow sees it (`detection.store.ResultStore`), shared."""

    def __init__(
        self,
        url: str,
        *,
        service: str,
        history_prefix: str | None = None,
        claim_lease: float = CLAIM_LEASE,
        claim_poll: float = CLAIM_POLL,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.where = redacted(url)
        self.service = service_key(service)
        #: whose credits the ledger counts: the API's, or (with a prefix) every simulator's
        self.ledger_scope = history_prefix or self.service
        self.claim_lease = claim_lease
        self._history_prefix = history_prefix
        self._claim_poll = claim_poll
        self._retry_first = retry_first
        self._retry_max = retry_max
        self._clock = clock
        self._pool: AsyncConnectionPool | None = None
        self._migrated = False
        self._disabled = False
        self._paused_until = 0.0
        self._pause = 0.0
        self._warned = False
        self._unwritten = Unwritten()
        self._pending: list[AsyncWrite] = []
        self._memory = MemoryDurations()

    async def open(self) -> bool:
        """Connect and migrate now, so a broken store is reported at start-up."""
        return await self._run(lambda conn: _true()) is not None

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with anyio.CancelScope(shield=True):
                await pool.close(timeout=2.0)

    # --- results ------------------------------------------------------------------------------

    async def find(self, sha256: str, *, deep_analysis: bool, preview: bool) -> StoredResult | None:
        kept = self._unwritten.find(sha256, deep_analysis=deep_analysis, preview=preview)
        if kept is not None:
            return kept
        return await self._run(lambda conn: _find(conn, self.service, sha256, deep_analysis, preview))

    async def get(self, document_id: str) -> StoredResult | None:
        kept = self._unwritten.get(document_id)
        if kept is not None:
            return kept
        return await self._run(lambda conn: _get(conn, self.service, document_id))

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
        """Written the moment TruthScan accepts a paid submission: from then on every replica
        finds the id instead of paying again; its ledger row goes in the same transaction."""
        at, service, scope = self._clock(), self.service, self.scope_of(user)

        async def write(conn: AsyncConnection) -> None:
            async with conn.transaction():
                await _record_submission(conn, service, document_id, source, deep_analysis, preview, at, user)
                await ledger.add(conn, scope, document_id, at=at, hold=hold)

        if not await self._write(write):
            self._unwritten.submitted(
                StoredResult(document_id, source, deep_analysis, preview, None, at, at), at=at
            )

    async def save_report(self, report: DetectionReport, *, deep_analysis: bool) -> None:
        if report.id is None:
            return
        at, service = self._clock(), self.service

        async def write(conn: AsyncConnection) -> None:
            await _save_report(conn, service, report, deep_analysis, at)

        if not await self._write(write):
            self._unwritten.reported(report, deep_analysis=deep_analysis, at=at)

    async def record_answer(
        self, document_id: str, source_name: str | None, *, user: str | None = None
    ) -> None:
        at, service = self._clock(), self.service

        async def write(conn: AsyncConnection) -> None:
            await _add_event(conn, service, document_id, source_name, paid=False, at=at, user=user)

        if not await self._write(write):
            self._unwritten.answered(document_id, source_name, at=at)

    # --- single flight across replicas --------------------------------------------------------

    async def claim(self, key: ContentKey, holder: str) -> bool | None:
        return await self._run(lambda conn: _claim(conn, self.service, key, holder, self.claim_lease))

    async def renew_claim(self, key: ContentKey, holder: str) -> bool | None:
        args = (self.claim_lease, self.service, key.sha256, key.deep_analysis, key.preview, holder)

        async def renew(conn: AsyncConnection) -> bool:
            cursor = await conn.execute(
                f"UPDATE truthscan_claims SET expires_at = {_DB_NOW} + %s WHERE {_CLAIM_KEY} "
                f"AND holder = %s AND expires_at > {_DB_NOW}",
                args,
            )
            return cursor.rowcount == 1

        return await self._run(renew)

    async def release_claim(self, key: ContentKey, holder: str) -> None:
        args = (self.service, key.sha256, key.deep_analysis, key.preview, holder)
        await self._run(
            lambda conn: conn.execute(
                f"DELETE FROM truthscan_claims WHERE {_CLAIM_KEY} AND holder = %s", args
            )
        )

    async def wait_claim(
        self, key: ContentKey, *, until: float, skip: str | None = None
    ) -> StoredResult | ClaimWait | None:
        """Poll (two indexed reads) until a document appears or the claim ends."""

        async def read_state() -> ClaimState:
            return await self._run(lambda conn: _claim_state(conn, self.service, key, skip))

        return await wait_for_claim(read_state, until=until, poll=self._claim_poll)

    # --- the ledger of paid detections (the daily cap), shared by every replica ---------------

    def scope_of(self, user: str | None) -> str:
        return user_scope(self.ledger_scope, user)

    async def spent_since(self, since: float, *, user: str | None = None) -> int | None:
        """From the database, plus what this replica paid that the database has not taken yet."""
        scope = self.scope_of(user)
        counted = await self._run(lambda conn: ledger.spent_since(conn, scope, since))
        return None if counted is None else counted + self._unwritten.paid_since(since)

    async def hold(
        self, holder: str, count: int, *, limit: int, since: float, user: str | None = None
    ) -> Hold | None:
        scope, unwritten = self.scope_of(user), self._unwritten.paid_since(since)
        held = await self._run(
            lambda conn: ledger.hold(conn, scope, holder, count, limit=limit - unwritten, since=since)
        )
        return None if held is None else Hold(held.granted, held.used + unwritten)

    async def release(self, holder: str) -> None:
        with anyio.CancelScope(shield=True):
            await self._run(lambda conn: ledger.release(conn, holder))

    # --- reading back -------------------------------------------------------------------------

    async def history(self, limit: int = HISTORY_SHOWN, *, user: str | None = None) -> History:
        """The latest answers (`user`'s alone, with per-user history); what is only in memory
        does not say whose it is, so a user's history leaves it out."""
        prefix = self._history_prefix
        entries = await self._run(
            lambda conn: _history(conn, prefix or self.service, limit, prefix is not None, user)
        )
        if entries is not None and not self._pending:
            return History(cache="on", detections=entries)
        kept = self._unwritten.history(limit) if user is None else []
        merged: list[HistoryEntry] = [*kept, *(entries or [])]
        merged.sort(key=lambda e: e.at, reverse=True)
        return History(cache="unavailable" if self._disabled else "degraded", detections=merged[:limit])

    async def durations(self, api_url: str) -> DurationHistory:
        service = service_key(api_url)
        rows = await self._run(lambda conn: _durations(conn, service, HISTORY_SIZE))
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
        kept = DurationHistory().adding(durations)
        measured = [(p, d.seconds, d.within) for p in PHASES for d in kept.of(p)]
        if not measured:
            return
        at = self._clock()
        stored_ = await self._run(lambda conn: _record_durations(conn, service, measured, at))
        if stored_ is None:
            await self._memory.record_durations(api_url, durations)

    # --- plumbing ---------------------------------------------------------------------------

    def _get_pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            self._pool = AsyncConnectionPool(
                self.url,
                min_size=1,
                max_size=POOL_SIZE,
                timeout=POOL_WAIT,
                open=False,
                kwargs={"autocommit": True, "connect_timeout": max(1, int(POOL_WAIT))},
            )
        return self._pool

    async def _run(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T | None:
        """`op` on a pooled connection within `STATEMENT_BUDGET`, or None when the store cannot tell."""
        if self._disabled or anyio.current_time() < self._paused_until:
            return None
        try:
            with anyio.fail_after(STATEMENT_BUDGET):
                pool = self._get_pool()
                if pool.closed:
                    await pool.open(wait=False)
                async with pool.connection() as conn:
                    if not self._migrated:
                        await migrate(conn)
                        self._migrated = True
                    await self._replay(conn)
                    result = await op(conn)
        except (psycopg.Error, PoolTimeout, OSError, TimeoutError, CacheUnusableError) as exc:
            await self._failed(exc)
            return None
        if self._pause:
            self._pause, self._warned = 0.0, False
            logger.info("The shared store %s works again.", self.where)
        return result

    async def _write(self, write: AsyncWrite) -> bool:
        if await self._run(lambda conn: _done(write(conn))):
            return True
        if not self._disabled:
            self._pending.append(write)
            del self._pending[:-10_000]
        return False

    async def _replay(self, conn: AsyncConnection) -> None:
        """Write down, in order, what the database refused before (raises where it refuses again)."""
        if not self._pending:
            return
        while self._pending:
            await self._pending[0](conn)
            del self._pending[0]
        self._unwritten.clear()  # every fact is in the database now

    async def _failed(self, exc: Exception) -> None:
        if isinstance(exc, CacheUnusableError):
            self._disabled = True
            self._pending.clear()
            await self.aclose()
            message = (
                f"The shared store {self.where} cannot be used ({exc}). Detections go on without it: "
                "repeated images are answered from this replica's memory, but replicas may pay twice."
            )
        else:
            self._pause = self._retry_first if not self._pause else min(self._retry_max, self._pause * 2)
            self._paused_until = anyio.current_time() + self._pause
            why = (
                "did not answer in time"
                if isinstance(exc, TimeoutError)
                else f"failed ({type(exc).__name__})"
            )
            message = (
                f"The shared store {self.where} {why}. Detections go on; what could not be written is kept "
                f"in this replica's memory and written once the store is back; next try in {self._pause:g}s."
            )
        if not self._warned:
            self._warned = True
            logger.warning("%s", message)
        else:
            logger.debug("%s", message)


async def _true() -> bool:
    return True


async def _done(step: Awaitable[object]) -> bool:
    await step
    return True


# --- statements -------------------------------------------------------------------------------


async def _find(
    conn: AsyncConnection, service: str, sha256: str, deep: bool, preview: bool
) -> StoredResult | None:
    cursor = await conn.execute(
        f"SELECT {RESULT_COLUMNS} FROM truthscan_results WHERE service = %s AND sha256 = %s "
        "AND (deep_analysis OR NOT %s) AND (preview OR NOT %s) ORDER BY submitted_at DESC LIMIT 1",
        (service, sha256, deep, preview),
    )
    row = await cursor.fetchone()
    return stored(row) if row is not None else None


async def _get(conn: AsyncConnection, service: str, document_id: str) -> StoredResult | None:
    cursor = await conn.execute(
        f"SELECT {RESULT_COLUMNS} FROM truthscan_results WHERE service = %s AND document_id = %s",
        (service, document_id),
    )
    row = await cursor.fetchone()
    return stored(row) if row is not None else None


async def _record_submission(
    conn: AsyncConnection,
    service: str,
    document_id: str,
    source: ReportSource,
    deep: bool,
    preview: bool,
    at: float,
    user: str | None,
) -> None:
    read_at = source.read_at.timestamp() if source.read_at is not None else None
    async with conn.transaction():  # nested in the caller's: a savepoint
        await conn.execute(
            "INSERT INTO truthscan_results (service, document_id, sha256, source_kind, source_name, "
            "media_type, size, location, final_url, read_at, deep_analysis, preview, status, "
            "submitted_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s) "
            "ON CONFLICT (service, document_id) DO NOTHING",
            (
                service,
                document_id,
                source.sha256,
                source.kind,
                source.name,
                source.media_type,
                source.bytes,
                source.location,
                source.final_url,
                read_at,
                deep,
                preview,
                at,
                at,
            ),
        )
        await _add_event(conn, service, document_id, source.name, paid=True, at=at, user=user)


async def _save_report(
    conn: AsyncConnection, service: str, report: DetectionReport, deep: bool, at: float
) -> None:
    body = report.model_dump_json(exclude=set(PER_ANSWER_FIELDS))
    values = (report.status, report.complete, report.verdict, report.ai_score, report.simulated, body, at)
    completed = at if report.complete else None
    await conn.execute(
        "INSERT INTO truthscan_results (service, document_id, sha256, source_kind, deep_analysis, preview, "
        "status, complete, verdict, ai_score, simulated, report, updated_at, submitted_at, completed_at) "
        "VALUES (%s, %s, NULL, 'id', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (service, document_id) DO UPDATE SET status = excluded.status, "
        "complete = excluded.complete, verdict = excluded.verdict, ai_score = excluded.ai_score, "
        "simulated = excluded.simulated, report = excluded.report, updated_at = excluded.updated_at, "
        "completed_at = coalesce(truthscan_results.completed_at, excluded.completed_at)",
        (service, report.id, deep, report.preview_url is not None, *values, at, completed),
    )


async def _add_event(
    conn: AsyncConnection,
    service: str,
    document_id: str,
    source_name: str | None,
    *,
    paid: bool,
    at: float,
    user: str | None = None,
) -> None:
    cursor = await conn.execute(
        "INSERT INTO truthscan_events (at, service, document_id, source_name, paid, user_scope) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq",
        (at, service, document_id, source_name, paid, user),
    )
    row = await cursor.fetchone()
    if row is not None and int(row[0]) % 100 == 0:  # prune now and then, not on every write
        await conn.execute("DELETE FROM truthscan_events WHERE seq <= %s", (int(row[0]) - HISTORY_KEPT,))


async def _claim(conn: AsyncConnection, service: str, key: ContentKey, holder: str, lease: float) -> bool:
    args = (service, key.sha256, key.deep_analysis, key.preview)
    async with conn.transaction():
        await conn.execute(
            f"DELETE FROM truthscan_claims WHERE {_CLAIM_KEY} AND expires_at <= {_DB_NOW}", args
        )
        cursor = await conn.execute(
            "INSERT INTO truthscan_claims (service, sha256, deep_analysis, preview, holder, expires_at) "
            f"VALUES (%s, %s, %s, %s, %s, {_DB_NOW} + %s) ON CONFLICT DO NOTHING",
            (*args, holder, lease),
        )
        return cursor.rowcount == 1


async def _claim_state(
    conn: AsyncConnection, service: str, key: ContentKey, skip: str | None
) -> StoredResult | bool:
    found = await _find(conn, service, key.sha256, key.deep_analysis, key.preview)
    if found is not None and found.document_id != skip:
        return found
    cursor = await conn.execute(
        f"SELECT 1 FROM truthscan_claims WHERE {_CLAIM_KEY} AND expires_at > {_DB_NOW}",
        (service, key.sha256, key.deep_analysis, key.preview),
    )
    return await cursor.fetchone() is not None


async def _history(
    conn: AsyncConnection, service: str, limit: int, prefix: bool, user: str | None
) -> list[HistoryEntry]:
    where = "left(e.service, %s) = %s" if prefix else "e.service = %s"
    args: tuple[Any, ...] = (len(service), service) if prefix else (service,)
    if user is not None:
        where, args = f"{where} AND e.user_scope = %s", (*args, user)
    cursor = await conn.execute(
        "SELECT e.at, e.document_id, e.source_name, e.paid, r.verdict, r.ai_score, r.status, "
        "r.complete, r.simulated FROM truthscan_events e LEFT JOIN truthscan_results r "
        "ON r.document_id = e.document_id AND r.service = e.service "
        f"WHERE {where} ORDER BY e.seq DESC LIMIT %s",
        (*args, limit),
    )
    return [history_entry(row) for row in await cursor.fetchall()]


async def _durations(conn: AsyncConnection, service: str, limit: int) -> list[tuple[str, float, float]]:
    cursor = await conn.execute(
        "SELECT phase, seconds, within FROM ("
        "  SELECT phase, seconds, within, seq,"
        "         row_number() OVER (PARTITION BY phase ORDER BY seq DESC) AS newest"
        "  FROM truthscan_durations WHERE service = %s"
        ") AS recent WHERE newest <= %s ORDER BY seq",
        (service, limit),
    )
    return [(str(phase), float(seconds), float(within)) for phase, seconds, within in await cursor.fetchall()]


async def _record_durations(
    conn: AsyncConnection, service: str, measured: list[tuple[str, float, float]], at: float
) -> bool:
    async with conn.transaction():
        for phase, seconds, within in measured:
            await conn.execute(
                "INSERT INTO truthscan_durations (service, phase, seconds, within, recorded_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (service, phase, seconds, within, at),
            )
            await conn.execute(
                "DELETE FROM truthscan_durations WHERE service = %s AND phase = %s AND seq <= ("
                "SELECT seq FROM truthscan_durations WHERE service = %s AND phase = %s "
                "ORDER BY seq DESC LIMIT 1 OFFSET %s)",
                (service, phase, service, phase, DURATIONS_KEPT),
            )
    return True


@contextlib.asynccontextmanager
async def open_postgres(
    url: str, *, service: str, history_prefix: str | None = None
) -> AsyncGenerator[PostgresStore]:
    """The shared store for a server's lifetime (a store that cannot connect yet still serves)."""
    store = PostgresStore(url, service=service, history_prefix=history_prefix)
    await store.open()
    try:
        yield store
    finally:
        await store.aclose()
