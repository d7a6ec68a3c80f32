"""The ledger of paid detections and the holds on the daily cap, in the shared PostgreSQL store.

The same rules as the SQLite file's (`database`), for every replica at once: a hold checks the
day's count and takes its detections in one transaction, serialised per scope by a
transaction-scoped advisory lock (under READ COMMITTED two replicas could otherwise both count
"one left" and both pay); each paid id adds its ledger row and uses one held detection in the
transaction that records the document. Holds lapse by the database's clock, like claims.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from truthscan_mcp.detection.store import Hold

#: How long ledger rows are kept: only the current UTC day is counted, two cover any time zone.
LEDGER_KEPT = 2 * 86_400.0
#: How long a hold stands without being used (each paid detection renews it).
HOLD_LEASE = 600.0
_DB_NOW = "extract(epoch from clock_timestamp())"


async def add(conn: AsyncConnection, scope: str, document_id: str, *, at: float, hold: str | None) -> None:
    """One paid id in the ledger, and one detection less held by `hold` (call in a transaction)."""
    cursor = await conn.execute(
        "INSERT INTO truthscan_ledger (scope, document_id, paid_at) VALUES (%s, %s, %s) RETURNING seq",
        (scope, document_id, at),
    )
    if hold is not None:
        await conn.execute(
            f"UPDATE truthscan_holds SET count = greatest(count - 1, 0), "
            f"expires_at = greatest(expires_at, {_DB_NOW} + %s) WHERE holder = %s",
            (HOLD_LEASE, hold),
        )
    row = await cursor.fetchone()
    if row is not None and int(row[0]) % 100 == 0:  # prune now and then
        await conn.execute("DELETE FROM truthscan_ledger WHERE paid_at < %s", (at - LEDGER_KEPT,))


async def spent_since(conn: AsyncConnection, scope: str, since: float) -> int:
    """Paid under `scope` since `since`, plus what live holds of `scope` hold."""
    cursor = await conn.execute(
        "SELECT (SELECT count(*) FROM truthscan_ledger WHERE scope = %s AND paid_at >= %s) + "
        f"(SELECT coalesce(sum(count), 0) FROM truthscan_holds WHERE scope = %s AND expires_at > {_DB_NOW})",
        (scope, since, scope),
    )
    row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def hold(
    conn: AsyncConnection, scope: str, holder: str, count: int, *, limit: int, since: float
) -> Hold:
    """Count and hold in one transaction, one replica at a time per scope."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("truthscan-ledger:" + scope,))
        await conn.execute(f"DELETE FROM truthscan_holds WHERE expires_at <= {_DB_NOW}")
        used = await spent_since(conn, scope, since)
        if used + count > limit:
            return Hold(granted=False, used=used)
        await conn.execute(
            "INSERT INTO truthscan_holds (holder, scope, count, expires_at) "
            f"VALUES (%s, %s, %s, {_DB_NOW} + %s) ON CONFLICT (holder) DO UPDATE SET "
            "count = truthscan_holds.count + excluded.count, expires_at = excluded.expires_at",
            (holder, scope, count, HOLD_LEASE),
        )
    return Hold(granted=True, used=used)


async def release(conn: AsyncConnection, holder: str) -> None:
    await conn.execute("DELETE FROM truthscan_holds WHERE holder = %s", (holder,))
