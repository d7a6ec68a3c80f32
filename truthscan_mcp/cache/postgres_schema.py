"""The PostgreSQL schema of a team's shared store, and its migrations.

The tables mirror the SQLite file's (`database`), prefixed `truthscan_` so the store can live in
a database that holds other things too. Every replica runs `migrate` when it starts; the
migration takes a transaction-scoped advisory lock, so replicas started together do not race to
create the same tables, and a schema newer than this version's is refused (`CacheUnusableError`):
an older replica left running during an upgrade must not write rows a newer one misreads.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from truthscan_mcp.cache.database import CacheUnusableError

SCHEMA_VERSION = 3
#: Any constant: the advisory lock key serialising migrations across replicas.
MIGRATION_LOCK = 0x7472757468736361  # "truthsca"

_SCHEMA: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS truthscan_results (
        service       TEXT NOT NULL,
        document_id   TEXT NOT NULL,
        sha256        TEXT,
        source_kind   TEXT NOT NULL,
        source_name   TEXT,
        media_type    TEXT,
        size          BIGINT,
        location      TEXT,
        final_url     TEXT,
        read_at       DOUBLE PRECISION,
        deep_analysis BOOLEAN NOT NULL,
        preview       BOOLEAN NOT NULL,
        status        TEXT NOT NULL,
        complete      BOOLEAN NOT NULL DEFAULT false,
        verdict       TEXT,
        ai_score      DOUBLE PRECISION,
        simulated     BOOLEAN NOT NULL DEFAULT false,
        report        TEXT,
        submitted_at  DOUBLE PRECISION NOT NULL,
        updated_at    DOUBLE PRECISION NOT NULL,
        completed_at  DOUBLE PRECISION,
        PRIMARY KEY (service, document_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS truthscan_results_by_content "
    "ON truthscan_results (service, sha256, submitted_at DESC)",
    """
    CREATE TABLE IF NOT EXISTS truthscan_events (
        seq         BIGSERIAL PRIMARY KEY,
        at          DOUBLE PRECISION NOT NULL,
        service     TEXT NOT NULL,
        document_id TEXT NOT NULL,
        source_name TEXT,
        paid        BOOLEAN NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS truthscan_events_by_service ON truthscan_events (service, seq)",
    """
    CREATE TABLE IF NOT EXISTS truthscan_claims (
        service       TEXT NOT NULL,
        sha256        TEXT NOT NULL,
        deep_analysis BOOLEAN NOT NULL,
        preview       BOOLEAN NOT NULL,
        holder        TEXT NOT NULL,
        expires_at    DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (service, sha256, deep_analysis, preview)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS truthscan_durations (
        seq         BIGSERIAL PRIMARY KEY,
        service     TEXT NOT NULL,
        phase       TEXT NOT NULL,
        seconds     DOUBLE PRECISION NOT NULL,
        within      DOUBLE PRECISION NOT NULL,
        recorded_at DOUBLE PRECISION NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS truthscan_durations_by_phase ON truthscan_durations (service, phase, seq)",
    # The ledger of paid detections (the daily cap), one row per paid id and scope (whose credits).
    """
    CREATE TABLE IF NOT EXISTS truthscan_ledger (
        seq         BIGSERIAL PRIMARY KEY,
        scope       TEXT NOT NULL,
        document_id TEXT NOT NULL,
        paid_at     DOUBLE PRECISION NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS truthscan_ledger_by_time ON truthscan_ledger (scope, paid_at)",
    # Detections held by a call or a batch about to pay for them, until used, released or lapsed.
    """
    CREATE TABLE IF NOT EXISTS truthscan_holds (
        holder     TEXT PRIMARY KEY,
        scope      TEXT NOT NULL,
        count      INTEGER NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    )
    """,
    "CREATE TABLE IF NOT EXISTS truthscan_schema (version INTEGER NOT NULL)",
)
#: What each version adds to the one before it (a new store gets `_SCHEMA`, then all of them).
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # Secrets every replica must share: the key sealing the 2026-07-28 era's `requestState`, so
    # a question asked by one replica can be answered on another (see `postgres_keys`).
    2: (
        """
        CREATE TABLE IF NOT EXISTS truthscan_secrets (
            name       TEXT PRIMARY KEY,
            value      BYTEA NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )
        """,
    ),
    # Whose history an event is in, with per-user history (TRUTHSCAN_PER_USER): an opaque hash of
    # the token's issuer and subject; NULL for everyone's.
    3: ("ALTER TABLE truthscan_events ADD COLUMN IF NOT EXISTS user_scope TEXT",),
}


async def schema_version(conn: AsyncConnection) -> int | None:
    """The store's schema version, None when the database has no store yet."""
    cursor = await conn.execute("SELECT to_regclass('truthscan_schema') IS NOT NULL")
    row = await cursor.fetchone()
    if row is None or not row[0]:
        return None
    cursor = await conn.execute("SELECT max(version) FROM truthscan_schema")
    row = await cursor.fetchone()
    return int(row[0]) if row is not None and row[0] is not None else None


def refuse_newer(version: int | None) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise CacheUnusableError(
            f"it was written by a newer truthscan-mcp (store schema {version}, this version reads "
            f"{SCHEMA_VERSION}); upgrade this replica"
        )


async def migrate(conn: AsyncConnection) -> None:
    """Create or upgrade the tables, once across replicas; refuse a newer schema."""
    refuse_newer(await schema_version(conn))  # before any lock or write
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        version = await schema_version(conn)  # another replica may have just migrated
        refuse_newer(version)
        if version == SCHEMA_VERSION:
            return
        if version is None:
            for statement in _SCHEMA:
                await conn.execute(statement.encode())
            version = 1
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS.get(step, ()):
                await conn.execute(statement.encode())
        # Conditional: a replica that waited on the lock may still have seen no store (the
        # catalog lookup can predate the other's commit); its CREATE … IF NOT EXISTS were no-ops,
        # and this statement, with a fresh snapshot, sees the version row already there.
        await conn.execute(
            "INSERT INTO truthscan_schema (version) SELECT %s "
            "WHERE NOT EXISTS (SELECT 1 FROM truthscan_schema WHERE version >= %s)",
            (SCHEMA_VERSION, SCHEMA_VERSION),
        )


async def counts(conn: AsyncConnection) -> tuple[int, int, int, float | None, float | None, int]:
    """Stored results, paid and cached answers, first and last answer, bytes on disk (0, None…
    for a database without a store yet: reading never creates one)."""
    if await schema_version(conn) is None:
        return 0, 0, 0, None, None, 0
    cursor = await conn.execute("SELECT count(*) FROM truthscan_results")
    results = await cursor.fetchone()
    cursor = await conn.execute(
        "SELECT coalesce(sum(paid::int), 0), coalesce(sum(1 - paid::int), 0), min(at), max(at), "
        "pg_total_relation_size('truthscan_results') + pg_total_relation_size('truthscan_events') "
        "FROM truthscan_events"
    )
    row = await cursor.fetchone()
    assert results is not None
    assert row is not None
    paid, cached, first, last, size = row
    return int(results[0]), int(paid), int(cached), first, last, int(size)


async def clear(conn: AsyncConnection) -> tuple[int, int]:
    """Empty results, history and claims (durations stay: they are the schedule's, not results)."""
    if await schema_version(conn) is None:
        return 0, 0
    refuse_newer(await schema_version(conn))
    async with conn.transaction():
        cursor = await conn.execute("DELETE FROM truthscan_results")
        results = cursor.rowcount
        cursor = await conn.execute("DELETE FROM truthscan_events")
        history = cursor.rowcount
        await conn.execute("DELETE FROM truthscan_claims")
    return results, history
