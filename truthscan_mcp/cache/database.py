"""The content cache: results kept by the image's SHA-256, so the same bytes are never paid for twice.

SQLite (stdlib) because the cache must be one self-contained file that several server processes
share safely: a user's desktop apps each spawn their own `truthscan-mcp`, all pointed at the same
user cache dir. WAL mode lets them read while one writes, and a short busy timeout absorbs the
moments when two of them write at once.

What is stored, per TruthScan document: the service it belongs to, the image's SHA-256, the
source's name, media type and size, the options asked for, the latest report, and timestamps;
plus one history row per `detect_image` answer, saying whether it was paid or served from here.
Never the image bytes, never the API key: nothing here even receives them.

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
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread
from pydantic import BaseModel, Field, ValidationError

from truthscan_mcp.detection.store import StoredResult
from truthscan_mcp.models import DetectionReport, ReportSource, SourceKind

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 1
#: How long one statement waits for another process's write lock before giving up on the cache.
BUSY_TIMEOUT = 1.0
#: After a lock held elsewhere, how long the store stays out of the way before trying again.
LOCKED_PAUSE = 30.0
#: History rows kept (results are kept: each one is a credit that need not be spent again).
HISTORY_KEPT = 10_000
#: History rows a reader gets by default.
HISTORY_SHOWN = 50

_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """
    CREATE TABLE results (
        document_id   TEXT PRIMARY KEY,
        service       TEXT NOT NULL,
        sha256        TEXT,
        source_kind   TEXT NOT NULL,
        source_name   TEXT,
        media_type    TEXT,
        size          INTEGER,
        deep_analysis INTEGER NOT NULL,
        preview       INTEGER NOT NULL,
        status        TEXT NOT NULL,
        complete      INTEGER NOT NULL DEFAULT 0,
        verdict       TEXT,
        ai_score      REAL,
        simulated     INTEGER NOT NULL DEFAULT 0,
        report        TEXT,
        submitted_at  REAL NOT NULL,
        updated_at    REAL NOT NULL
    )
    """,
    "CREATE INDEX results_by_content ON results (service, sha256, submitted_at)",
    """
    CREATE TABLE events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at          REAL NOT NULL,
        service     TEXT NOT NULL,
        document_id TEXT NOT NULL,
        source_name TEXT,
        paid        INTEGER NOT NULL
    )
    """,
    "CREATE INDEX events_by_service ON events (service, seq)",
)
_RESULT_COLUMNS = (
    "document_id, sha256, source_kind, source_name, media_type, size, deep_analysis, preview, "
    "report, submitted_at, updated_at"
)
#: Report fields that describe one answer rather than the document; set afresh on every answer.
_PER_ANSWER_FIELDS = frozenset({"source", "cached", "elapsed_seconds"})


class CacheUnusableError(Exception):
    """The file is a database this version must not touch (not ours, or a newer schema)."""


# --- what callers get -------------------------------------------------------------------------


class HistoryEntry(BaseModel):
    at: datetime = Field(description="When detect_image answered (UTC).")
    id: str = Field(description="TruthScan document id.")
    source_name: str | None = Field(description="The file name, URL (without query) or 'inline data'.")
    verdict: str | None = Field(description="The latest known verdict of that document.")
    ai_score: float | None
    status: str | None
    complete: bool
    cached: bool = Field(
        description="True when answered from the local cache; false when credits were spent."
    )
    simulated: bool = Field(description="True for results of the sandbox simulator.")


class History(BaseModel):
    cache: Literal["on", "off", "unavailable"] = Field(
        description="Whether results are being cached; 'unavailable' when the cache file cannot be used."
    )
    detections: list[HistoryEntry] = Field(description="Most recent first.")


@dataclass(frozen=True)
class CacheStats:
    path: Path
    exists: bool
    size_bytes: int
    results: int = 0
    paid: int = 0
    cached: int = 0
    first_at: float | None = None
    last_at: float | None = None


@dataclass(frozen=True)
class Cleared:
    path: Path
    results: int
    history: int
    bytes_before: int
    bytes_after: int
    #: True when the file was not a usable database and was deleted rather than emptied.
    deleted: bool = False


# --- the database, synchronously (worker threads and the command line) ------------------------


def service_key(api_url: str) -> str:
    """The API a document id belongs to, without credentials or query (ids are per service:
    a sandbox id means nothing to the live API, and a simulated verdict must never answer a
    live request)."""
    parts = urlsplit(api_url.strip())
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), host.lower(), parts.path.rstrip("/"), "", ""))


def _files_of(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _size_on_disk(path: Path) -> int:
    total = 0
    for file in _files_of(path):
        with contextlib.suppress(OSError):
            total += file.stat().st_size
    return total


def _prepare_file(path: Path) -> None:
    """Create the directory and an empty private file: the history names the user's images."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_locked(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    if _error_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return True
    return "locked" in str(exc).lower()


def _is_garbage(exc: BaseException) -> bool:
    return _error_code(exc) in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)


class _Database:
    """One connection and the statements the cache needs; not thread-safe, callers serialise."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT, create: bool = True) -> None:
        if create:
            _prepare_file(path)
        uri = f"{path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
        self.conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            # Read-only checks first: a file that is not ours (or too new) is never written to,
            # not even by switching its journal mode.
            version = self._version()
            self.conn.execute("PRAGMA journal_mode=WAL").fetchone()
            # WAL + NORMAL survives a crash of the process; a power cut may lose the last
            # results, which for a cache only means asking TruthScan again.
            self.conn.execute("PRAGMA synchronous=NORMAL")
            if version != SCHEMA_VERSION:
                self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def _write(self) -> Generator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _version(self) -> int | None:
        found = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if found is None:
            tables = self.conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
            if tables[0]:
                raise CacheUnusableError("it is an SQLite database, but not a truthscan-mcp cache")
            return None
        row = self.conn.execute("SELECT max(version) FROM schema_version").fetchone()
        version = int(row[0]) if row and row[0] is not None else None
        if version is not None and version > SCHEMA_VERSION:
            raise CacheUnusableError(
                f"it was written by a newer truthscan-mcp (cache schema {version}, this version "
                f"reads {SCHEMA_VERSION})"
            )
        return version

    def _migrate(self) -> None:
        with self._write() as conn:
            version = self._version()  # another process may have just created it
            if version is None:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            # Future migrations from older versions go here, one step per version.

    # --- results ------------------------------------------------------------------------------

    def find(self, service: str, sha256: str, *, deep_analysis: bool, preview: bool) -> StoredResult | None:
        """The newest document of these bytes made with at least the options asked for."""
        row = self.conn.execute(
            f"SELECT {_RESULT_COLUMNS} FROM results WHERE service = ? AND sha256 = ? "
            "AND deep_analysis >= ? AND preview >= ? ORDER BY submitted_at DESC LIMIT 1",
            (service, sha256, int(deep_analysis), int(preview)),
        ).fetchone()
        return _stored(row) if row is not None else None

    def get(self, service: str, document_id: str) -> StoredResult | None:
        row = self.conn.execute(
            f"SELECT {_RESULT_COLUMNS} FROM results WHERE service = ? AND document_id = ?",
            (service, document_id),
        ).fetchone()
        return _stored(row) if row is not None else None

    def record_submission(
        self, service: str, document_id: str, source: ReportSource, *, deep_analysis: bool, preview: bool
    ) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO results (document_id, service, sha256, source_kind, source_name, "
                "media_type, size, deep_analysis, preview, status, submitted_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (
                    document_id,
                    service,
                    source.sha256,
                    source.kind,
                    source.name,
                    source.media_type,
                    source.bytes,
                    int(deep_analysis),
                    int(preview),
                    now,
                    now,
                ),
            )
            self._add_event(conn, service, document_id, source.name, paid=True, at=now)

    def save_report(self, service: str, report: DetectionReport, *, deep_analysis: bool) -> None:
        """The latest answer for a document; a document first seen here (fetched by id) gets a row
        without a content hash, so it is found by id but never answers for some image's bytes."""
        assert report.id is not None
        now = time.time()
        body = report.model_dump_json(exclude=set(_PER_ANSWER_FIELDS))
        values = (report.status, int(report.complete), report.verdict, report.ai_score, int(report.simulated))
        with self._write() as conn:
            updated = conn.execute(
                "UPDATE results SET status = ?, complete = ?, verdict = ?, ai_score = ?, simulated = ?, "
                "report = ?, updated_at = ? WHERE service = ? AND document_id = ?",
                (*values, body, now, service, report.id),
            ).rowcount
            if not updated:
                conn.execute(
                    "INSERT INTO results (document_id, service, sha256, source_kind, source_name, "
                    "media_type, size, deep_analysis, preview, status, complete, verdict, ai_score, "
                    "simulated, report, submitted_at, updated_at) "
                    "VALUES (?, ?, NULL, 'id', NULL, NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        report.id,
                        service,
                        int(deep_analysis),
                        int(report.preview_url is not None),
                        *values,
                        body,
                        now,
                        now,
                    ),
                )

    def record_answer(self, service: str, document_id: str, source_name: str | None) -> None:
        with self._write() as conn:
            self._add_event(conn, service, document_id, source_name, paid=False, at=time.time())

    def _add_event(
        self,
        conn: sqlite3.Connection,
        service: str,
        document_id: str,
        source_name: str | None,
        *,
        paid: bool,
        at: float,
    ) -> None:
        cursor = conn.execute(
            "INSERT INTO events (at, service, document_id, source_name, paid) VALUES (?, ?, ?, ?, ?)",
            (at, service, document_id, source_name, int(paid)),
        )
        last = cursor.lastrowid
        if last is not None and last % 100 == 0:  # prune now and then, not on every write
            conn.execute("DELETE FROM events WHERE seq <= ?", (last - HISTORY_KEPT,))

    # --- reading back -------------------------------------------------------------------------

    def history(self, service: str, limit: int) -> list[HistoryEntry]:
        rows = self.conn.execute(
            "SELECT e.at, e.document_id, e.source_name, e.paid, r.verdict, r.ai_score, r.status, "
            "r.complete, r.simulated FROM events e LEFT JOIN results r "
            "ON r.document_id = e.document_id AND r.service = e.service "
            "WHERE e.service = ? ORDER BY e.seq DESC LIMIT ?",
            (service, limit),
        ).fetchall()
        return [
            HistoryEntry(
                at=datetime.fromtimestamp(float(at), UTC),
                id=str(doc_id),
                source_name=name,
                verdict=verdict,
                ai_score=score,
                status=status,
                complete=bool(complete),
                cached=not paid,
                simulated=bool(simulated),
            )
            for at, doc_id, name, paid, verdict, score, status, complete, simulated in rows
        ]

    def counts(self) -> tuple[int, int, int, float | None, float | None]:
        results = self.conn.execute("SELECT count(*) FROM results").fetchone()[0]
        paid, cached, first, last = self.conn.execute(
            "SELECT coalesce(sum(paid), 0), coalesce(sum(1 - paid), 0), min(at), max(at) FROM events"
        ).fetchone()
        return int(results), int(paid), int(cached), first, last

    def clear(self) -> tuple[int, int]:
        with self._write() as conn:
            results = conn.execute("DELETE FROM results").rowcount
            history = conn.execute("DELETE FROM events").rowcount
        # Give the space back: VACUUM rewrites the file, the checkpoint empties the WAL. Both are
        # refused while another process is mid-read; the rows are gone either way.
        with contextlib.suppress(sqlite3.OperationalError):
            self.conn.execute("VACUUM")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return results, history


def _stored(row: tuple[Any, ...]) -> StoredResult:
    doc_id, sha256, kind, name, media_type, size, deep, preview, body, submitted_at, updated_at = row
    source_kind: SourceKind = kind if kind in ("path", "url", "data", "id") else "id"
    source = ReportSource(kind=source_kind, name=name, media_type=media_type, bytes=size, sha256=sha256)
    report: DetectionReport | None = None
    if body is not None:
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            fields: dict[str, Any] = {k: v for k, v in data.items() if k not in _PER_ANSWER_FIELDS}  # pyright: ignore[reportUnknownVariableType]
            report = DetectionReport.model_validate({**fields, "source": source, "cached": False})
        except (ValueError, ValidationError):
            # Unreadable (edited by hand, or an older shape): the id is still good, so callers
            # re-query it instead of trusting or failing on the stored copy.
            logger.debug("stored report of %s is unreadable; it will be fetched again", doc_id)
    return StoredResult(
        document_id=str(doc_id),
        source=source,
        deep_analysis=bool(deep),
        preview=bool(preview),
        report=report,
        submitted_at=float(submitted_at),
        updated_at=float(updated_at),
    )


# --- the store the workflow uses -------------------------------------------------------------


class ResultCache:
    """The cache as the detection workflow sees it: async, and never failing a detection."""

    def __init__(
        self,
        path: Path,
        *,
        service: str,
        busy_timeout: float = BUSY_TIMEOUT,
        locked_pause: float = LOCKED_PAUSE,
    ) -> None:
        self.path = path
        self.service = service_key(service)
        self._busy_timeout = busy_timeout
        self._locked_pause = locked_pause
        self._db: _Database | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._disabled = False
        self._paused_until = 0.0
        self._warned = False

    @property
    def usable(self) -> bool:
        """False once the file proved unusable; results then simply are not kept."""
        return not self._disabled

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

    async def history(self, limit: int = HISTORY_SHOWN) -> History:
        entries = await self._run(lambda db: db.history(self.service, limit))
        if entries is None:
            return History(cache="unavailable", detections=[])
        return History(cache="on", detections=entries)

    # --- plumbing ---------------------------------------------------------------------------

    def _get_limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return self._limiter

    async def _run(self, op: Callable[[_Database], T]) -> T | None:
        if self._disabled or anyio.current_time() < self._paused_until:
            return None
        try:
            return await anyio.to_thread.run_sync(self._call, op, limiter=self._get_limiter())
        except (sqlite3.Error, OSError, CacheUnusableError) as exc:
            await self._failed(exc)
            return None

    def _call(self, op: Callable[[_Database], T]) -> T:
        if self._db is None:
            self._db = _Database(self.path, busy_timeout=self._busy_timeout)
        return op(self._db)

    async def _failed(self, exc: Exception) -> None:
        if _is_locked(exc):
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
                if _is_garbage(exc)
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
async def open_cache(path: Path | None, *, service: str) -> AsyncGenerator[ResultCache | None]:
    """The store for a server's lifetime, or None when the cache is off."""
    if path is None:
        yield None
        return
    cache = ResultCache(path, service=service)
    await cache.open()
    try:
        yield cache
    finally:
        await cache.aclose()


# --- the `truthscan-mcp cache` command ---------------------------------------------------------


def cache_stats(path: Path) -> CacheStats:
    """What the cache holds; raises sqlite3.Error / CacheUnusableError for an unusable file."""
    if not path.exists():
        return CacheStats(path=path, exists=False, size_bytes=0)
    db = _Database(path, create=False)
    try:
        results, paid, cached, first, last = db.counts()
    finally:
        db.close()
    return CacheStats(
        path=path,
        exists=True,
        size_bytes=_size_on_disk(path),
        results=results,
        paid=paid,
        cached=cached,
        first_at=first,
        last_at=last,
    )


def clear_cache(path: Path) -> Cleared:
    """Empty the cache in place (safe while servers have it open); a file that is not a database
    at all is deleted instead, since nothing could ever read it."""
    before = _size_on_disk(path)
    if not path.exists():
        return Cleared(path=path, results=0, history=0, bytes_before=0, bytes_after=0)
    try:
        db = _Database(path, create=False)
    except sqlite3.DatabaseError as exc:
        if not _is_garbage(exc):
            raise
        for file in _files_of(path):
            file.unlink(missing_ok=True)
        return Cleared(path=path, results=0, history=0, bytes_before=before, bytes_after=0, deleted=True)
    try:
        results, history = db.clear()
    finally:
        db.close()
    return Cleared(
        path=path, results=results, history=history, bytes_before=before, bytes_after=_size_on_disk(path)
    )


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_cache_command(path: Path | None, action: str, *, as_json: bool = False) -> int:
    """`truthscan-mcp cache stats|clear`: reports on stdout, problems on stderr, exit 1 on failure."""
    out = sys.stdout
    if path is None:
        out.write("The result cache is off (TRUTHSCAN_CACHE_PATH=off); there is nothing to show or clear.\n")
        return 0
    try:
        if action == "clear":
            cleared = clear_cache(path)
            if as_json:
                out.write(json.dumps({**cleared.__dict__, "path": str(path)}) + "\n")
            elif cleared.deleted:
                out.write(
                    f"{path} was not a readable cache; deleted it ({_human(cleared.bytes_before)}). "
                    "A fresh cache starts with the next detection.\n"
                )
            elif not cleared.bytes_before:
                out.write(f"No cache at {path}; nothing to remove.\n")
            else:
                out.write(
                    f"Removed {cleared.results} stored result(s) and {cleared.history} history entr"
                    f"{'y' if cleared.history == 1 else 'ies'} from {path} "
                    f"({_human(cleared.bytes_before)} -> {_human(cleared.bytes_after)}).\n"
                )
            return 0
        stats = cache_stats(path)
    except (sqlite3.Error, OSError, CacheUnusableError) as exc:
        sys.stderr.write(f"truthscan-mcp: the result cache {path} cannot be used: {exc}\n")
        return 1
    if as_json:
        out.write(json.dumps({**stats.__dict__, "path": str(path)}) + "\n")
    elif not stats.exists:
        out.write(f"Result cache: {path}\n  empty (no detection has been cached yet)\n")
    else:
        out.write(
            f"Result cache: {path}\n"
            f"  stored results: {stats.results}\n"
            f"  detections: {stats.paid} paid, {stats.cached} answered from the cache (no credits)\n"
            f"  size on disk: {_human(stats.size_bytes)}\n"
            f"  first: {_when(stats.first_at)}, last: {_when(stats.last_at)}\n"
        )
    return 0
