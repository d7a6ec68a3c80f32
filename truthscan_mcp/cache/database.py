"""The SQLite file behind the content cache: results kept by the image's SHA-256.

SQLite (stdlib) because the cache must be one self-contained file that several server processes
share safely: a user's desktop apps each spawn their own `truthscan-mcp`, all pointed at the same
user cache dir. WAL mode lets them read while one writes, and a short busy timeout absorbs the
moments when two of them write at once.

What is stored, per TruthScan document: the service it belongs to, the image's SHA-256, the
source's name, media type and size, the options asked for, the latest report, and timestamps;
plus one history row per `detect_image` answer, saying whether it was paid or served from here;
plus, for a few seconds at a time, a claim per detection being paid for right now (who holds it
and until when), so that two processes detecting the same bytes at once pay once; plus the
custody of each paid document (where it was read from, when; when it settled), for its report.
Never the image bytes, never the API key: nothing here even receives them.

This module is the file itself (schema, connection, migrations, maintenance) and runs
synchronously, in worker threads or the command line; `store.py` is the async store on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from truthscan_mcp.detection.store import ContentKey, Hold, StoredResult
from truthscan_mcp.models import SOURCE_KINDS, DetectionReport, HistoryEntry, ReportSource, SourceKind

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
#: How long one statement waits for another process's write lock before giving up on the cache.
BUSY_TIMEOUT = 1.0
#: How long opening a file keeps retrying while other processes hold its lock (a new file is
#: created by whichever process comes first; the others wait for it, never give up on the cache).
OPEN_PATIENCE = 5.0
#: The first bytes of every SQLite database file.
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: History rows kept (results are kept: each one is a credit that need not be spent again).
HISTORY_KEPT = 10_000

_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """
    CREATE TABLE IF NOT EXISTS results (
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
    "CREATE INDEX IF NOT EXISTS results_by_content ON results (service, sha256, submitted_at)",
    """
    CREATE TABLE IF NOT EXISTS events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at          REAL NOT NULL,
        service     TEXT NOT NULL,
        document_id TEXT NOT NULL,
        source_name TEXT,
        paid        INTEGER NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS events_by_service ON events (service, seq)",
)
#: Added to schema 1 without a version step: a table older versions never read, so a file with it
#: stays readable by them (a version bump would lock them out of the cache for no reason).
_CLAIMS_TABLE = """
    CREATE TABLE IF NOT EXISTS claims (
        service       TEXT NOT NULL,
        sha256        TEXT NOT NULL,
        deep_analysis INTEGER NOT NULL,
        preview       INTEGER NOT NULL,
        holder        TEXT NOT NULL,
        expires_at    REAL NOT NULL,
        PRIMARY KEY (service, sha256, deep_analysis, preview)
    )
"""
#: Custody of each paid document, recorded as it happens: where its bytes were read from (path,
#: or URL and the final URL after redirects), when that read finished, and when TruthScan's answer
#: first settled (the submission time is `results.submitted_at`). Added like `claims`, without a
#: version step: older versions never read it, so a file with it stays theirs to use.
_CUSTODY_TABLE = """
    CREATE TABLE IF NOT EXISTS custody (
        service      TEXT NOT NULL,
        document_id  TEXT NOT NULL,
        location     TEXT,
        final_url    TEXT,
        read_at      REAL,
        completed_at REAL,
        PRIMARY KEY (service, document_id)
    )
"""
#: The ledger of paid detections (the daily cap), one row per paid document id, per scope (the
#: credits it was paid from: an API URL, or every simulator); kept `LEDGER_KEPT` seconds.
_LEDGER_TABLE = (
    """
    CREATE TABLE IF NOT EXISTS ledger (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        scope       TEXT NOT NULL,
        document_id TEXT NOT NULL,
        paid_at     REAL NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS ledger_by_time ON ledger (scope, paid_at)",
)
#: Detections held by a call or a batch about to pay for them (see `hold`).
_HOLDS_TABLE = """
    CREATE TABLE IF NOT EXISTS holds (
        holder     TEXT PRIMARY KEY,
        scope      TEXT NOT NULL,
        count      INTEGER NOT NULL,
        expires_at REAL NOT NULL
    )
"""
#: Tables a file gets whatever its version, created when missing (see `_CLAIMS_TABLE`).
_UNVERSIONED_TABLES: dict[str, tuple[str, ...]] = {
    "claims": (_CLAIMS_TABLE,),
    "ledger": _LEDGER_TABLE,
    "holds": (_HOLDS_TABLE,),
    "custody": (_CUSTODY_TABLE,),
}
#: Whose history an event is in, with per-user history (TRUTHSCAN_PER_USER: an opaque hash of the
#: token's issuer and subject, never the identifier itself); NULL: nobody's in particular. Added
#: like `claims`, without a version step: older versions name the columns they write and read,
#: so a file with it stays theirs to use.
_EVENTS_USER_COLUMN = "ALTER TABLE events ADD COLUMN user_scope TEXT"
#: How long ledger rows are kept: only the current UTC day is counted, two cover any time zone.
LEDGER_KEPT = 2 * 86_400.0
#: How long a hold stands without being used: how long a crashed process's unused detections
#: stay out of everyone's reach. Each paid detection renews it.
HOLD_LEASE = 600.0
#: What each version adds to the one before it; a new file gets `_SCHEMA` and then all of them.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # How long this account's jobs took, per service and phase (detection, analysis, heatmap):
    # the poll planner's history (detection.schedule), so a new server predicts from the first job.
    2: (
        """
        CREATE TABLE IF NOT EXISTS durations (
            seq         INTEGER PRIMARY KEY AUTOINCREMENT,
            service     TEXT NOT NULL,
            phase       TEXT NOT NULL,
            seconds     REAL NOT NULL,
            within      REAL NOT NULL,
            recorded_at REAL NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS durations_by_phase ON durations (service, phase, seq)",
    ),
}
#: Durations kept per service and phase (the planner reads the newest `HISTORY_SIZE`).
DURATIONS_KEPT = 200
_RESULT_COLUMNS = (
    "document_id, sha256, source_kind, source_name, media_type, size, deep_analysis, preview, "
    "report, submitted_at, updated_at"
)
#: Report fields that describe one answer rather than the document; set afresh on every answer.
_PER_ANSWER_FIELDS = frozenset({"source", "cached", "elapsed_seconds"})


class CacheUnusableError(Exception):
    """The file is a database this version must not touch (not ours, or a newer schema)."""


# --- what the maintenance commands get ---------------------------------------------------------


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


def is_locked(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    if _error_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return True
    return "locked" in str(exc).lower()


def is_garbage(exc: BaseException) -> bool:
    return _error_code(exc) in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)


def is_permanent(exc: BaseException) -> bool:
    """A file this version must never use (garbage, someone else's, a newer schema), as opposed
    to trouble that passes: a lock, a full disk, an I/O error, a directory not writable yet."""
    return isinstance(exc, CacheUnusableError) or is_garbage(exc)


def is_full(exc: BaseException) -> bool:
    return _error_code(exc) == sqlite3.SQLITE_FULL or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)


def _column_names(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _table_names(conn: sqlite3.Connection) -> set[str]:
    return {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _while_busy(step: Callable[[], None], *, patience: float) -> None:
    """`step()`, again after a short random pause while another process holds the lock, for up
    to `patience` seconds. Some statements (switching the journal mode) fail at once on a lock
    instead of waiting, which is exactly what processes opening one new file together meet."""
    deadline = time.monotonic() + patience
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(random.uniform(0.005, 0.05))


class Database:
    """One connection and the statements the cache needs; not thread-safe, callers serialise."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT, create: bool = True) -> None:
        if create:
            _prepare_file(path)
        uri = f"{path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
        self.conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            _while_busy(self._set_up, patience=OPEN_PATIENCE + busy_timeout)
        except BaseException:
            self.conn.close()
            raise

    def _set_up(self) -> None:
        """Check, switch to WAL, create or migrate: safe to repeat, and to run in many processes
        at once on a new file (each step is idempotent, and the schema is decided inside the
        write transaction that creates it)."""
        # Read-only checks first: a file that is not ours (or too new) is never written to,
        # not even by switching its journal mode.
        version = self._version()
        self.conn.execute("PRAGMA journal_mode=WAL").fetchone()
        # WAL + NORMAL survives a crash of the process; a power cut may lose the last
        # results, which for a cache only means asking TruthScan again.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        if version != SCHEMA_VERSION:
            self._migrate()
        self._add_tables()
        self._add_columns()

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
        """The schema version, None for a new (empty) file. One read of the table list: two
        reads could straddle another process's creating transaction and see "tables, but no
        schema_version" — a file that looked like someone else's database."""
        tables = _table_names(self.conn)
        if "schema_version" not in tables:
            if tables - {"sqlite_sequence"}:
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
                version = 1
            if version < SCHEMA_VERSION:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS.get(step, ()):
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    def _add_tables(self) -> None:
        """Tables added without a version step (older versions never read them)."""
        names = _table_names(self.conn)
        missing = [ddl for name, ddls in _UNVERSIONED_TABLES.items() if name not in names for ddl in ddls]
        if missing:
            with self._write() as conn:
                for ddl in missing:
                    conn.execute(ddl)

    def _add_columns(self) -> None:
        """Columns added without a version step; checked again under the write lock, so two
        processes opening a file at once do not both add one."""
        if "user_scope" in _column_names(self.conn, "events"):
            return
        with self._write() as conn:
            if "user_scope" not in _column_names(conn, "events"):
                conn.execute(_EVENTS_USER_COLUMN)

    # --- claims: one process pays for some bytes while the others wait for its id ----------
    #
    # Times are wall-clock seconds (`time.time()`), passed in: the only clock two processes share,
    # and a test's to control. A claim whose `expires_at` has passed is nobody's: its holder died
    # or hung, and the next claimer takes it over.

    def claim(self, service: str, key: ContentKey, holder: str, *, now: float, lease: float) -> bool:
        """Take the claim on `key` for `holder` until `now + lease`; False if another holds it."""
        where = "service = ? AND sha256 = ? AND deep_analysis = ? AND preview = ?"
        args = (service, key.sha256, int(key.deep_analysis), int(key.preview))
        with self._write() as conn:
            conn.execute(f"DELETE FROM claims WHERE {where} AND expires_at <= ?", (*args, now))
            taken = conn.execute(
                "INSERT INTO claims (service, sha256, deep_analysis, preview, holder, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*args, holder, now + lease),
            ).rowcount
        return taken == 1

    def renew_claim(self, service: str, key: ContentKey, holder: str, *, now: float, lease: float) -> bool:
        """Extend `holder`'s live claim; False when it is no longer `holder`'s (expired, taken)."""
        with self._write() as conn:
            renewed = conn.execute(
                "UPDATE claims SET expires_at = ? WHERE service = ? AND sha256 = ? AND deep_analysis = ? "
                "AND preview = ? AND holder = ? AND expires_at > ?",
                (now + lease, service, key.sha256, int(key.deep_analysis), int(key.preview), holder, now),
            ).rowcount
        return renewed == 1

    def release_claim(self, service: str, key: ContentKey, holder: str) -> None:
        """Drop `holder`'s claim (never another holder's, which took over an expired one)."""
        with self._write() as conn:
            conn.execute(
                "DELETE FROM claims WHERE service = ? AND sha256 = ? AND deep_analysis = ? "
                "AND preview = ? AND holder = ?",
                (service, key.sha256, int(key.deep_analysis), int(key.preview), holder),
            )

    def claim_state(
        self, service: str, key: ContentKey, *, now: float, skip: str | None = None
    ) -> StoredResult | bool:
        """What a waiter sees: the newest document of these bytes (made with at least these
        options) unless it is `skip`, else whether a live claim on them still stands."""
        found = self.find(service, key.sha256, deep_analysis=key.deep_analysis, preview=key.preview)
        if found is not None and found.document_id != skip:
            return found
        row = self.conn.execute(
            "SELECT 1 FROM claims WHERE service = ? AND sha256 = ? AND deep_analysis = ? AND preview = ? "
            "AND expires_at > ?",
            (service, key.sha256, int(key.deep_analysis), int(key.preview), now),
        ).fetchone()
        return row is not None

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
        if row is None:
            return None
        stored = _stored(row)
        custody = self.conn.execute(
            "SELECT location, final_url, read_at, completed_at FROM custody "
            "WHERE service = ? AND document_id = ?",
            (service, document_id),
        ).fetchone()
        return _with_custody(stored, custody) if custody is not None else stored

    def record_submission(
        self,
        service: str,
        document_id: str,
        source: ReportSource,
        *,
        deep_analysis: bool,
        preview: bool,
        at: float | None = None,
        scope: str | None = None,
        hold: str | None = None,
        user: str | None = None,
    ) -> None:
        """A paid document and, in the same transaction, its ledger row under `scope` (default
        `service`) and one detection less held by `hold`. `at`: when it was paid, if not now (a
        write the file refused then, made now)."""
        now = time.time() if at is None else at
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
            self._add_event(conn, service, document_id, source.name, paid=True, at=now, user=user)
            read_at = source.read_at.timestamp() if source.read_at is not None else None
            conn.execute(
                "INSERT OR REPLACE INTO custody (service, document_id, location, final_url, read_at, "
                "completed_at) VALUES (?, ?, ?, ?, ?, NULL)",
                (service, document_id, source.location, source.final_url, read_at),
            )
            self._add_to_ledger(conn, scope or service, document_id, at=now, hold=hold)

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
            if report.complete:  # the first time the answer settled, kept from then on
                conn.execute(
                    "INSERT INTO custody (service, document_id, completed_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (service, document_id) DO UPDATE SET "
                    "completed_at = coalesce(custody.completed_at, excluded.completed_at)",
                    (service, report.id, now),
                )

    def record_answer(
        self,
        service: str,
        document_id: str,
        source_name: str | None,
        *,
        at: float | None = None,
        user: str | None = None,
    ) -> None:
        when = time.time() if at is None else at
        with self._write() as conn:
            self._add_event(conn, service, document_id, source_name, paid=False, at=when, user=user)

    def _add_event(
        self,
        conn: sqlite3.Connection,
        service: str,
        document_id: str,
        source_name: str | None,
        *,
        paid: bool,
        at: float,
        user: str | None = None,
    ) -> None:
        cursor = conn.execute(
            "INSERT INTO events (at, service, document_id, source_name, paid, user_scope) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (at, service, document_id, source_name, int(paid), user),
        )
        last = cursor.lastrowid
        if last is not None and last % 100 == 0:  # prune now and then, not on every write
            conn.execute("DELETE FROM events WHERE seq <= ?", (last - HISTORY_KEPT,))

    # --- the ledger of paid detections and the holds on the daily cap ----------------------

    def _add_to_ledger(
        self, conn: sqlite3.Connection, scope: str, document_id: str, *, at: float, hold: str | None
    ) -> None:
        cursor = conn.execute(
            "INSERT INTO ledger (scope, document_id, paid_at) VALUES (?, ?, ?)", (scope, document_id, at)
        )
        if hold is not None:
            conn.execute(
                "UPDATE holds SET count = max(count - 1, 0), expires_at = max(expires_at, ?) "
                "WHERE holder = ?",
                (time.time() + HOLD_LEASE, hold),
            )
        last = cursor.lastrowid
        if last is not None and last % 100 == 0:
            conn.execute("DELETE FROM ledger WHERE paid_at < ?", (at - LEDGER_KEPT,))

    def spent_since(self, scope: str, since: float, *, now: float) -> int:
        """Paid under `scope` since `since`, plus what live holds of `scope` hold."""
        paid = self.conn.execute(
            "SELECT count(*) FROM ledger WHERE scope = ? AND paid_at >= ?", (scope, since)
        ).fetchone()[0]
        held = self.conn.execute(
            "SELECT coalesce(sum(count), 0) FROM holds WHERE scope = ? AND expires_at > ?", (scope, now)
        ).fetchone()[0]
        return int(paid) + int(held)

    def hold(
        self,
        scope: str,
        holder: str,
        count: int,
        *,
        limit: int,
        since: float,
        now: float,
        lease: float = HOLD_LEASE,
    ) -> Hold:
        """Check and hold in one write transaction: no other process can count between the two."""
        with self._write() as conn:
            conn.execute("DELETE FROM holds WHERE expires_at <= ?", (now,))
            used = self.spent_since(scope, since, now=now)
            if used + count > limit:
                return Hold(granted=False, used=used)
            conn.execute(
                "INSERT INTO holds (holder, scope, count, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (holder) DO UPDATE SET count = count + excluded.count, "
                "expires_at = excluded.expires_at",
                (holder, scope, count, now + lease),
            )
        return Hold(granted=True, used=used)

    def release(self, holder: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM holds WHERE holder = ?", (holder,))

    # --- job durations (the poll planner's history) -------------------------------------------

    def record_durations(self, service: str, measured: list[tuple[str, float, float]]) -> None:
        """Append (phase, seconds, within) rows; the oldest beyond `DURATIONS_KEPT` go."""
        now = time.time()
        with self._write() as conn:
            for phase, seconds, within in measured:
                conn.execute(
                    "INSERT INTO durations (service, phase, seconds, within, recorded_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (service, phase, seconds, within, now),
                )
                conn.execute(
                    "DELETE FROM durations WHERE service = ? AND phase = ? AND seq <= ("
                    "SELECT seq FROM durations WHERE service = ? AND phase = ? "
                    "ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    (service, phase, service, phase, DURATIONS_KEPT),
                )

    def durations(self, service: str, limit: int) -> list[tuple[str, float, float]]:
        """The newest `limit` (phase, seconds, within) per phase, oldest first."""
        rows = self.conn.execute(
            "SELECT phase, seconds, within FROM ("
            "  SELECT phase, seconds, within, seq,"
            "         row_number() OVER (PARTITION BY phase ORDER BY seq DESC) AS newest"
            "  FROM durations WHERE service = ?"
            ") WHERE newest <= ? ORDER BY seq",
            (service, limit),
        ).fetchall()
        return [(str(phase), float(seconds), float(within)) for phase, seconds, within in rows]

    # --- reading back -------------------------------------------------------------------------

    def history(
        self, service: str, limit: int, *, prefix: bool = False, user: str | None = None
    ) -> list[HistoryEntry]:
        """The latest answers of `service`, or with `prefix` of every service whose key starts so
        (all simulator instances: each run of `--sandbox` has its own namespace); with `user`,
        only that user's."""
        if prefix:
            where, arg = "substr(e.service, 1, ?) = ?", (len(service), service)
        else:
            where, arg = "e.service = ?", (service,)
        if user is not None:
            where, arg = f"{where} AND e.user_scope = ?", (*arg, user)
        rows = self.conn.execute(
            "SELECT e.at, e.document_id, e.source_name, e.paid, r.verdict, r.ai_score, r.status, "
            "r.complete, r.simulated FROM events e LEFT JOIN results r "
            "ON r.document_id = e.document_id AND r.service = e.service "
            f"WHERE {where} ORDER BY e.seq DESC LIMIT ?",
            (*arg, limit),
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
            conn.execute("DELETE FROM custody")
            history = conn.execute("DELETE FROM events").rowcount
        # Give the space back: VACUUM rewrites the file, the checkpoint empties the WAL. Both are
        # refused while another process is mid-read; the rows are gone either way.
        with contextlib.suppress(sqlite3.OperationalError):
            self.conn.execute("VACUUM")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return results, history


def _stored(row: tuple[Any, ...]) -> StoredResult:
    doc_id, sha256, kind, name, media_type, size, deep, preview, body, submitted_at, updated_at = row
    source_kind: SourceKind = kind if kind in SOURCE_KINDS else "id"
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


def _with_custody(stored: StoredResult, row: tuple[Any, ...]) -> StoredResult:
    location, final_url, read_at, completed_at = row
    read = datetime.fromtimestamp(float(read_at), UTC) if read_at is not None else None
    source = stored.source.model_copy(update={"location": location, "final_url": final_url, "read_at": read})
    completed = float(completed_at) if completed_at is not None else None
    return dataclasses.replace(stored, source=source, completed_at=completed)


# --- maintenance (the `truthscan-mcp cache` command) --------------------------------------------


def cache_stats(path: Path) -> CacheStats:
    """What the cache holds; raises sqlite3.Error / CacheUnusableError for an unusable file."""
    if not path.exists() or not path.stat().st_size:
        return CacheStats(path=path, exists=False, size_bytes=0)
    _check_ours(path)  # reading must never turn someone else's file into a cache
    db = Database(path, create=False)
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
    """Empty the cache in place (safe while servers have it open). Only a file that is this
    project's database is touched: anything else at the path (a typo'd `--cache-path`, another
    program's database, a corrupt file) raises `NotACacheError` and is left exactly as it was."""
    before = _size_on_disk(path)
    if not path.exists() or not path.stat().st_size:
        return Cleared(path=path, results=0, history=0, bytes_before=before, bytes_after=before)
    _check_ours(path)
    db = Database(path, create=False)
    try:
        results, history = db.clear()
    finally:
        db.close()
    return Cleared(
        path=path, results=results, history=history, bytes_before=before, bytes_after=_size_on_disk(path)
    )


class NotACacheError(CacheUnusableError):
    """The file at the cache path is not this project's database, so no command may change it."""


def _check_ours(path: Path) -> None:
    """Raise `NotACacheError` unless `path` reads, without writing a byte, as our database."""
    if not path.is_file():
        raise NotACacheError("it is not a regular file")
    with path.open("rb") as file:
        if file.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            raise NotACacheError("it is not an SQLite database")
    try:
        with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as conn:
            names = _table_names(conn)
    except sqlite3.DatabaseError as exc:
        raise NotACacheError(f"it cannot be read as a database ({exc})") from None
    if not {"schema_version", "results", "events"} <= names:
        raise NotACacheError("it is another program's SQLite database")
