"""The claim's lease in the cache file, on a clock the test drives (wall-clock seconds passed in).

A claim lets one process pay for some bytes while the others wait for its id; its lease is what
keeps a crashed claimer from blocking everyone for ever.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from truthscan_mcp.cache.database import Database
from truthscan_mcp.detection.store import ContentKey
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
