"""The claim's lease in the cache file, on a clock the test drives (wall-clock seconds passed in).

A claim lets one process pay for some bytes while the others wait for its id; its lease is what
keeps a crashed claimer from blocking everyone for ever.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from truthscan_mcp.cache.database import Database
from truthscan_mcp.cache.store import ResultCache
from truthscan_mcp.detection.flight import pay_once
from truthscan_mcp.detection.progress import Tracker, no_progress
from truthscan_mcp.detection.store import ContentKey, StoredResult
from truthscan_mcp.models import ReportSource

SERVICE = "https://api.example"
KEY = ContentKey("ab" * 32, deep_analysis=True, preview=False)
T0 = 1_000_000.0


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "c.sqlite3")
    yield database
    database.close()


def test_a_second_holder_cannot_take_a_live_claim(db: Database) -> None:
    assert db.claim(SERVICE, KEY, "1-a", now=T0, lease=15)
    assert not db.claim(SERVICE, KEY, "2-b", now=T0 + 14.9, lease=15)


def test_an_expired_claim_is_taken_over(db: Database) -> None:
    assert db.claim(SERVICE, KEY, "1-a", now=T0, lease=15)
    assert db.claim(SERVICE, KEY, "2-b", now=T0 + 15, lease=15)


def test_renewing_keeps_a_claim_past_its_first_lease(db: Database) -> None:
    db.claim(SERVICE, KEY, "1-a", now=T0, lease=15)
    assert db.renew_claim(SERVICE, KEY, "1-a", now=T0 + 10, lease=15)
    assert not db.claim(SERVICE, KEY, "2-b", now=T0 + 20, lease=15)


def test_a_lapsed_claim_cannot_be_renewed(db: Database) -> None:
    db.claim(SERVICE, KEY, "1-a", now=T0, lease=15)
    assert not db.renew_claim(SERVICE, KEY, "1-a", now=T0 + 16, lease=15)


def test_a_holder_whose_claim_was_taken_over_neither_renews_nor_releases_it(db: Database) -> None:
    db.claim(SERVICE, KEY, "1-a", now=T0, lease=15)
    db.claim(SERVICE, KEY, "2-b", now=T0 + 16, lease=15)
    assert not db.renew_claim(SERVICE, KEY, "1-a", now=T0 + 17, lease=15)
    db.release_claim(SERVICE, KEY, "1-a")
    assert db.claim_state(SERVICE, KEY, now=T0 + 17) is True


def test_a_released_claim_is_free_at_once(db: Database) -> None:
    db.claim(SERVICE, KEY, "1-a", now=T0, lease=15)
    db.release_claim(SERVICE, KEY, "1-a")
    assert db.claim_state(SERVICE, KEY, now=T0 + 1) is False
    assert db.claim(SERVICE, KEY, "2-b", now=T0 + 1, lease=15)


def test_claims_differ_by_service_and_options(db: Database) -> None:
    db.claim(SERVICE, KEY, "1-a", now=T0, lease=15)
    assert db.claim("truthscan-sandbox://x", KEY, "2-b", now=T0, lease=15)
    assert db.claim(
        SERVICE, ContentKey(KEY.sha256, deep_analysis=False, preview=False), "3-c", now=T0, lease=15
    )


def test_a_waiter_sees_the_holders_document_once_recorded(db: Database) -> None:
    db.claim(SERVICE, KEY, "1-a", now=T0, lease=15)
    source = ReportSource(kind="path", name="a.png", media_type="image/png", bytes=10, sha256=KEY.sha256)
    db.record_submission(SERVICE, "doc-1", source, deep_analysis=True, preview=False)
    state = db.claim_state(SERVICE, KEY, now=T0 + 1)
    assert not isinstance(state, bool)
    assert state.document_id == "doc-1"
    assert db.claim_state(SERVICE, KEY, now=T0 + 1, skip="doc-1") is True


def test_an_older_cache_file_gets_the_claims_table_on_open(tmp_path: Path) -> None:
    cache = tmp_path / "old.sqlite3"
    Database(cache).close()
    with sqlite3.connect(cache) as conn:
        conn.execute("DROP TABLE claims")
    db = Database(cache)
    try:
        assert db.claim(SERVICE, KEY, "1-a", now=T0, lease=15)
    finally:
        db.close()


# --- pay_once over the cache: who pays, who follows ---------------------------------------------


def cache_at(path: Path) -> ResultCache:
    return ResultCache(path, service=SERVICE, claim_poll=0.01)


class Payer:
    """A `submit` that counts its calls (each one a credit) and answers with a document id."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return f"doc-{self.calls}"


async def pay(cache: ResultCache, payer: Payer, *, patience: float = 5.0) -> str | StoredResult:
    return await pay_once(
        cache, KEY, deadline=anyio.current_time(), track=Tracker(no_progress), submit=payer, patience=patience
    )


@pytest.mark.anyio
async def test_pay_once_pays_and_leaves_no_claim_behind(tmp_path: Path, db: Database) -> None:
    payer = Payer()
    cache = cache_at(tmp_path / "c.sqlite3")
    assert await pay(cache, payer) == "doc-1"
    await cache.aclose()
    assert db.claim_state(SERVICE, KEY, now=time.time()) is False


@pytest.mark.anyio
async def test_pay_once_follows_the_document_another_holder_records(tmp_path: Path, db: Database) -> None:
    db.claim(SERVICE, KEY, "other", now=time.time(), lease=15)
    payer = Payer()
    cache = cache_at(tmp_path / "c.sqlite3")
    outcome: list[str | StoredResult] = []
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            outcome.append(await pay(cache, payer))

        tg.start_soon(run)
        await anyio.sleep(0.1)
        source = ReportSource(kind="path", name="a.png", media_type="image/png", bytes=10, sha256=KEY.sha256)
        db.record_submission(SERVICE, "theirs", source, deep_analysis=True, preview=False)
        db.release_claim(SERVICE, KEY, "other")
    await cache.aclose()
    assert payer.calls == 0
    (followed,) = outcome
    assert isinstance(followed, StoredResult)
    assert followed.document_id == "theirs"


@pytest.mark.anyio
async def test_pay_once_pays_when_the_holder_releases_without_a_document(
    tmp_path: Path, db: Database
) -> None:
    db.claim(SERVICE, KEY, "other", now=time.time(), lease=15)
    payer = Payer()
    cache = cache_at(tmp_path / "c.sqlite3")
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            await pay(cache, payer)

        tg.start_soon(run)
        await anyio.sleep(0.1)
        assert payer.calls == 0  # still waiting on the live claim
        db.release_claim(SERVICE, KEY, "other")
    await cache.aclose()
    assert payer.calls == 1


@pytest.mark.anyio
async def test_pay_once_pays_around_a_live_holder_stuck_past_its_patience(
    tmp_path: Path, db: Database
) -> None:
    db.claim(SERVICE, KEY, "stuck", now=time.time(), lease=600)
    payer = Payer()
    cache = cache_at(tmp_path / "c.sqlite3")
    with anyio.fail_after(5):
        assert await pay(cache, payer, patience=0.2) == "doc-1"
    await cache.aclose()


@pytest.mark.anyio
async def test_pay_once_pays_when_the_cache_cannot_tell(tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-db.sqlite3"
    garbage.write_bytes(b"this is not a database" * 100)
    payer = Payer()
    cache = cache_at(garbage)
    assert await pay(cache, payer) == "doc-1"
    await cache.aclose()
