"""The shared PostgreSQL store (TRUTHSCAN_CACHE_URL) behind the store protocol, on a real cluster.

Servers run in-process (the SDK's `Client`) against the loopback sandbox; each has its own
`PostgresStore` and connection pool, as separate replicas would, and they share one database.
A fresh database per test (`pg_url`); the cluster is the session's (`postgres`), or a test's own
where the test stops it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from mcp import Client
from mcp.types import TextResourceContents

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    SandboxServer,
    free_port,
    make_server,
    make_settings,
    structured,
    text_of,
)
from tests.support.images import png_bytes
from tests.support.postgres import postgres_bin, postgres_cluster
from truthscan_mcp.cache.postgres import PostgresStore
from truthscan_mcp.cache.postgres_keys import shared_request_state_key
from truthscan_mcp.cache.postgres_schema import SCHEMA_VERSION
from truthscan_mcp.detection.schedule import Duration
from truthscan_mcp.detection.store import ContentKey
from truthscan_mcp.sandbox import FaultRule, SandboxConfig


def quick(server: SandboxServer) -> None:
    server.sandbox.config = SandboxConfig(processing_seconds=0.15, analysis_seconds=0.1, heatmap_seconds=0.1)


async def detect(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("detect_image", {"wait_seconds": 10, **arguments})
    assert not result.is_error, text_of(result)
    return structured(result)


async def history(client: Client) -> dict[str, Any]:
    result = await client.read_resource("truthscan://history")
    (content,) = result.contents
    assert isinstance(content, TextResourceContents)
    return json.loads(content.text)


def key_of(data: bytes) -> ContentKey:
    return ContentKey(hashlib.sha256(data).hexdigest(), deep_analysis=True, preview=False)


@pytest.mark.anyio
async def test_two_servers_on_one_store_racing_on_the_same_bytes_pay_once(
    sandbox: SandboxServer, pg_url: str
) -> None:
    quick(sandbox)
    # A slow upload keeps both servers past their look in the store before either has an id.
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="delay", delay_seconds=1.0, times=2))
    settings = make_settings(sandbox, cache_url=pg_url)
    reports: list[dict[str, Any]] = []
    async with Client(make_server(settings)) as first, Client(make_server(settings)) as second:

        async def run(client: Client) -> None:
            reports.append(await detect(client, path=str(AI_PNG)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, first)
            tg.start_soon(run, second)
    assert sandbox.sandbox.stats.requests["detect"] == 1
    assert {r["id"] for r in reports} == {reports[0]["id"]}
    assert sorted(r["cached"] for r in reports) == [False, True]


@pytest.mark.anyio
async def test_a_result_paid_on_one_server_is_found_on_another_by_id_and_by_bytes(
    sandbox: SandboxServer, pg_url: str
) -> None:
    quick(sandbox)
    settings = make_settings(sandbox, cache_url=pg_url)
    async with Client(make_server(settings)) as first:
        paid = await detect(first, path=str(CAMERA_JPG), deep_analysis=False)
    async with Client(make_server(settings)) as second:
        by_id = await second.call_tool("get_result", {"id": paid["id"]})
        again = await detect(second, path=str(CAMERA_JPG), deep_analysis=False)
        shared = await history(second)
    assert not by_id.is_error, text_of(by_id)
    assert structured(by_id)["verdict"] == paid["verdict"]
    assert again["cached"] is True
    assert again["id"] == paid["id"]
    assert sandbox.sandbox.stats.requests["detect"] == 1
    assert shared["cache"] == "on"
    assert [entry["cached"] for entry in shared["detections"]] == [True, False]


@pytest.mark.anyio
async def test_learned_phase_durations_are_shared(pg_url: str) -> None:
    first = PostgresStore(pg_url, service="http://127.0.0.1:1")
    second = PostgresStore(pg_url, service="http://127.0.0.1:1")
    try:
        await first.record_durations("http://127.0.0.1:1", {"detection": Duration(4.5, 0.25)})
        learned = await second.durations("http://127.0.0.1:1")
    finally:
        await first.aclose()
        await second.aclose()
    assert learned.of("detection") == (Duration(4.5, 0.25),)


@pytest.mark.anyio
async def test_a_claim_holds_off_other_replicas_until_released_or_lapsed(pg_url: str) -> None:
    key = key_of(b"the same bytes")
    holder = PostgresStore(pg_url, service="http://127.0.0.1:1", claim_lease=1.0)
    other = PostgresStore(pg_url, service="http://127.0.0.1:1", claim_lease=1.0)
    try:
        assert await holder.claim(key, "replica-a") is True
        assert await other.claim(key, "replica-b") is False
        assert await holder.renew_claim(key, "replica-a") is True
        await anyio.sleep(1.3)  # replica-a died: nobody renews
        assert await other.claim(key, "replica-b") is True
        assert await holder.renew_claim(key, "replica-a") is False
        await other.release_claim(key, "replica-b")
        assert await holder.claim(key, "replica-a") is True
    finally:
        await holder.aclose()
        await other.aclose()


@pytest.mark.anyio
async def test_replicas_starting_together_create_the_schema_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url, service="http://127.0.0.1:1") for _ in range(6)]
    opened: list[bool] = []

    async def open_one(store: PostgresStore) -> None:
        opened.append(await store.open())

    async with anyio.create_task_group() as tg:
        for store in stores:
            tg.start_soon(open_one, store)
    for store in stores:
        await store.aclose()
    assert opened == [True] * 6
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM truthscan_schema").fetchall() == [(SCHEMA_VERSION,)]


@pytest.mark.anyio
async def test_a_store_of_a_newer_schema_is_left_alone_and_detections_still_answer(
    sandbox: SandboxServer, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    quick(sandbox)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE truthscan_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO truthscan_schema VALUES (99)")
    settings = make_settings(sandbox, cache_url=pg_url)
    with caplog.at_level(logging.WARNING):
        async with Client(make_server(settings)) as client:
            report = await detect(client, path=str(CAMERA_JPG), deep_analysis=False)
            again = await detect(client, path=str(CAMERA_JPG), deep_analysis=False)
            shown = await history(client)
    assert report["complete"]
    assert again["cached"] is True, "answered from this replica's memory"
    assert sandbox.sandbox.stats.requests["detect"] == 1
    assert shown["cache"] == "unavailable"
    assert "newer truthscan-mcp" in caplog.text
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'truthscan_%'").fetchone()
    assert tables == (1,), "nothing was created in a newer store"


@pytest.mark.anyio
async def test_an_unreachable_store_never_fails_a_detection(sandbox: SandboxServer) -> None:
    quick(sandbox)
    nowhere = f"postgresql://truthscan@127.0.0.1:{free_port()}/postgres"
    settings = make_settings(sandbox, cache_url=nowhere)
    started = time.monotonic()
    async with Client(make_server(settings)) as client:
        report = await detect(client, path=str(CAMERA_JPG), deep_analysis=False)
        again = await detect(client, path=str(CAMERA_JPG), deep_analysis=False)
    assert report["complete"]
    assert again["cached"] is True
    assert sandbox.sandbox.stats.requests["detect"] == 1
    assert time.monotonic() - started < 20


@pytest.mark.anyio
@pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed")
async def test_a_store_outage_mid_run_costs_no_detection_and_what_was_paid_is_written_later(
    sandbox: SandboxServer,
) -> None:
    quick(sandbox)
    with postgres_cluster() as cluster:
        url = cluster.new_database()
        settings = make_settings(sandbox, cache_url=url)
        async with Client(make_server(settings)) as client:
            await detect(client, path=str(CAMERA_JPG), deep_analysis=False)
            cluster.stop()
            during = await detect(client, path=str(AI_PNG), deep_analysis=False)
            again = await detect(client, path=str(AI_PNG), deep_analysis=False)
            cluster.start()
            # The store tries again once its pause (doubled on each failure) has run out; any
            # call then writes down what it kept.
            ids: set[str] = set()
            shown: dict[str, Any] = {}
            with anyio.move_on_after(25):
                while during["id"] not in ids:
                    await anyio.sleep(0.5)
                    shown = await history(client)
                    with psycopg.connect(url) as conn:
                        rows = conn.execute("SELECT document_id FROM truthscan_results").fetchall()
                    ids = {str(row[0]) for row in rows}
    assert shown["cache"] == "on"
    assert during["complete"]
    assert again["cached"] is True
    assert sandbox.sandbox.stats.requests["detect"] == 2
    assert during["id"] in ids, "the document paid for during the outage reached the store"


@pytest.mark.anyio
async def test_servers_on_one_store_reach_the_daily_cap_together_and_pay_no_more(
    sandbox: SandboxServer, pg_url: str, tmp_path: Path
) -> None:
    quick(sandbox)
    # Slow uploads: every detection has passed the cap check before any is paid, so a check
    # that did not hold its place atomically across servers would let all four through.
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="delay", delay_seconds=0.5, times=4))
    images: list[str] = []
    for seed in range(5):
        path = tmp_path / f"desk-{seed}.png"
        path.write_bytes(png_bytes(8192, seed=500 + seed))
        images.append(str(path))
    settings = make_settings(sandbox, tmp_path, cache_url=pg_url, max_detections_per_day=3)
    outcomes: list[str] = []
    async with Client(make_server(settings)) as first, Client(make_server(settings)) as second:

        async def run(client: Client, path: str) -> None:
            result = await client.call_tool("detect_image", {"path": path, "wait_seconds": 10})
            outcomes.append(text_of(result) if result.is_error else "ok")

        async with anyio.create_task_group() as tg:
            for client, path in zip([first, second, first, second], images[:4], strict=True):
                tg.start_soon(run, client, path)
        refused = await second.call_tool("detect_image", {"path": images[4], "wait_seconds": 10})
        credits = [structured(await client.call_tool("check_credits", {})) for client in (first, second)]
    assert sorted(outcomes)[-3:] == ["ok", "ok", "ok"]
    assert "daily limit of 3 paid detections is reached" in sorted(outcomes)[0]
    assert refused.is_error
    assert sandbox.sandbox.stats.requests["detect"] == 3
    assert [(c["detections_today"], c["daily_limit"]) for c in credits] == [(3, 3), (3, 3)]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM truthscan_ledger").fetchone() == (3,)


@pytest.mark.anyio
async def test_a_store_of_the_first_schema_is_upgraded_in_place(pg_url: str) -> None:
    first = PostgresStore(pg_url, service="http://127.0.0.1:1")
    await first.record_answer("kept-across-the-upgrade", "desk.png")
    await first.aclose()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # what version 1 left behind
        conn.execute("DROP TABLE truthscan_secrets")
        conn.execute("UPDATE truthscan_schema SET version = 1")
    upgraded = PostgresStore(pg_url, service="http://127.0.0.1:1")
    try:
        shown = await upgraded.history()
    finally:
        await upgraded.aclose()
    assert [entry.id for entry in shown.detections] == ["kept-across-the-upgrade"]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT max(version) FROM truthscan_schema").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT to_regclass('truthscan_secrets') IS NOT NULL").fetchone() == (True,)


def test_replicas_read_one_request_state_key_from_the_store(pg_url: str) -> None:
    first, second = shared_request_state_key(pg_url), shared_request_state_key(pg_url)
    assert first is not None
    assert len(first) == 32
    assert first == second


def test_an_unreachable_store_gives_no_request_state_key(caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql://truthscan:pw-never-logged@127.0.0.1:{free_port()}/postgres"
    with caplog.at_level(logging.WARNING):
        assert shared_request_state_key(url) is None
    assert "request-state key" in caplog.text
    assert "pw-never-logged" not in caplog.text
