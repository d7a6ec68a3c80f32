"""A team deployment: three `serve --transport http --stateless` replicas on one PostgreSQL store.

Real processes on loopback ports, a real PostgreSQL cluster (a throwaway one on loopback, see
`tests.support.postgres`), the session's sandbox as TruthScan (its counters say how many times
`/detect` was paid). Each test detects bytes of its own (`png_bytes(seed=…)`), so the replicas
and the store can be shared by the module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import psycopg
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from tests.support import PROTOCOL_MODES, child_env, free_port, live_env, structured, text_of
from tests.support.balancer import RoundRobin
from tests.support.images import png_bytes
from tests.support.postgres import INSTALL_HINT, Cluster, postgres_bin, postgres_cluster
from tests.support.replicas import Replica, replica, replicas
from tests.support.servers import SandboxServer, serve_app
from tests.support.waiting import wait_until
from truthscan_mcp.cache.postgres import PostgresStore
from truthscan_mcp.models import ReportSource
from truthscan_mcp.sandbox import FaultRule, SandboxConfig

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason=INSTALL_HINT)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("team-images")


@pytest.fixture(scope="module")
def store_url(postgres: Cluster) -> str:
    return postgres.new_database()


@pytest.fixture(scope="module")
def team(
    sandbox_server: SandboxServer, store_url: str, images: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Replica]]:
    env = live_env(sandbox_server, images, TRUTHSCAN_CACHE_URL=store_url, TRUTHSCAN_WAIT_SECONDS="20")
    with replicas(3, env, tmp_path_factory.mktemp("team-logs")) as started:
        yield started


def image(folder: Path, seed: int) -> Path:
    path = folder / f"photo-{seed}.png"
    path.write_bytes(png_bytes(8192, seed=seed))
    return path


async def detect(server: Replica, path: Path, mode: str = "auto") -> dict[str, Any]:
    async with Client(server.url, mode=mode) as client:
        result = await client.call_tool("detect_image", {"path": str(path), "deep_analysis": False})
    assert not result.is_error, text_of(result) + server.stderr()
    return structured(result)


def timings(sandbox: SandboxServer, processing: float) -> None:
    sandbox.sandbox.config = SandboxConfig(
        processing_seconds=processing, analysis_seconds=0.1, heatmap_seconds=0.1
    )


@pytest.mark.anyio
@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_the_same_bytes_sent_to_three_replicas_at_once_are_paid_once(
    team: list[Replica], sandbox: SandboxServer, images: Path, mode: str
) -> None:
    timings(sandbox, 0.3)
    # A slow upload: every replica is past its look in the store before anyone has an id.
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="delay", delay_seconds=1.0, times=3))
    path = image(images, seed=100 + PROTOCOL_MODES.index(mode))
    reports: list[dict[str, Any]] = []

    async def run(server: Replica) -> None:
        reports.append(await detect(server, path, mode))

    async with anyio.create_task_group() as tg:
        for server in team:
            tg.start_soon(run, server)
    assert sandbox.sandbox.stats.requests["detect"] == 1
    assert len({r["id"] for r in reports}) == 1
    assert all(r["complete"] for r in reports)
    assert sorted(r["cached"] for r in reports) == [False, True, True]


@pytest.mark.anyio
async def test_get_result_answers_on_a_replica_that_did_not_make_the_detection(
    team: list[Replica], sandbox: SandboxServer, images: Path
) -> None:
    timings(sandbox, 0.2)
    paid = await detect(team[0], image(images, seed=200))
    async with Client(team[2].url) as client:
        result = await client.call_tool("get_result", {"id": paid["id"]})
    assert not result.is_error, text_of(result)
    found = structured(result)
    assert (found["id"], found["verdict"], found["complete"]) == (paid["id"], paid["verdict"], True)
    assert sandbox.sandbox.stats.requests["detect"] == 1


@pytest.mark.anyio
async def test_a_replica_killed_mid_detection_is_finished_by_another_without_paying_again(
    sandbox_server: SandboxServer,
    sandbox: SandboxServer,
    store_url: str,
    images: Path,
    team: list[Replica],
    tmp_path: Path,
) -> None:
    timings(sandbox, 4.0)  # long enough to kill the replica while it polls
    path = image(images, seed=300)
    env = live_env(sandbox_server, images, TRUTHSCAN_CACHE_URL=store_url, TRUTHSCAN_WAIT_SECONDS="20")
    known = _stored_count(store_url)
    with replica(env, tmp_path) as doomed:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_detect_ignoring_the_end, doomed, path)
            await _until_stored(store_url, known + 1)  # paid, and the id is in the store
            doomed.kill()
            tg.cancel_scope.cancel()
    finished = await detect(team[1], path)
    assert finished["complete"]
    assert finished["cached"] is True, "followed the paid document"
    assert sandbox.sandbox.stats.requests["detect"] == 1


def _stored_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM truthscan_results").fetchone()
    return int(row[0]) if row is not None else 0


async def _until_stored(url: str, count: int, timeout: float = 20) -> None:
    await anyio.to_thread.run_sync(lambda: wait_until(lambda: _stored_count(url) >= count, timeout=timeout))


async def _detect_ignoring_the_end(server: Replica, path: Path) -> None:
    """A client whose server is killed under it: whatever happens to the call is not the point."""
    try:
        async with Client(server.url) as client:
            await client.call_tool("detect_image", {"path": str(path), "deep_analysis": False})
    except Exception:
        pass


@pytest.mark.anyio
async def test_a_store_outage_does_not_stop_detections(
    sandbox_server: SandboxServer, sandbox: SandboxServer, images: Path, tmp_path: Path
) -> None:
    timings(sandbox, 0.2)
    with postgres_cluster() as cluster:
        env = live_env(sandbox_server, images, TRUTHSCAN_CACHE_URL=cluster.new_database())
        with replicas(2, env, tmp_path) as pair:
            before = await detect(pair[0], image(images, seed=400))
            cluster.stop()
            during = await detect(pair[1], image(images, seed=401))
            again = await detect(pair[1], image(images, seed=401))
    assert before["complete"]
    assert during["complete"]
    assert again["cached"] is True, "the replica remembers what it paid for while the store is away"
    assert sandbox.sandbox.stats.requests["detect"] == 2
    assert "The shared store" in pair[1].stderr()


async def _one_paid_detection(url: str) -> None:
    store = PostgresStore(url, service="http://127.0.0.1:9")
    source = ReportSource(kind="path", name="desk.png", media_type="image/png", bytes=10, sha256="ab" * 32)
    try:
        document = "d0c5e1a4-0000-4000-8000-000000000001"
        await store.record_submission(document, source, deep_analysis=False, preview=False)
    finally:
        await store.aclose()


def test_the_cache_command_shows_and_clears_the_shared_store(postgres: Cluster) -> None:
    url = postgres.new_database()
    anyio.run(_one_paid_detection, url)
    env = child_env(TRUTHSCAN_CACHE_URL=url)
    command = [sys.executable, "-m", "truthscan_mcp", "cache"]
    stats = subprocess.run([*command, "stats", "--json"], env=env, capture_output=True, text=True, timeout=60)
    shown = subprocess.run([*command, "stats"], env=env, capture_output=True, text=True, timeout=60)
    cleared = subprocess.run([*command, "clear"], env=env, capture_output=True, text=True, timeout=60)
    after = subprocess.run([*command, "stats", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["results"] == 1
    assert json.loads(stats.stdout)["paid"] == 1
    assert "Shared store: postgresql://127.0.0.1:" in shown.stdout
    assert "Removed 1 stored result" in cleared.stdout
    assert json.loads(after.stdout)["results"] == 0


def test_the_cache_command_names_an_unreachable_store_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://truthscan:hunter2-secret-pw@127.0.0.1:{free_port()}/postgres"
    done = subprocess.run(
        [sys.executable, "-m", "truthscan_mcp", "cache", "stats"],
        env=child_env(TRUTHSCAN_CACHE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "cannot be used" in done.stderr
    assert "hunter2-secret-pw" not in done.stderr + done.stdout


@pytest.mark.anyio
async def test_a_question_asked_by_one_replica_is_answered_on_another_in_the_2026_era(
    sandbox_server: SandboxServer, sandbox: SandboxServer, store_url: str, images: Path, tmp_path: Path
) -> None:
    """The retry that carries the person's answer (and the sealed `requestState`) reaches the
    other replica: it can open the state only with the key the replicas share."""
    timings(sandbox, 0.2)
    paths = [str(image(images, seed=600 + n)) for n in range(2)]
    env = live_env(sandbox_server, images, TRUTHSCAN_CACHE_URL=store_url, TRUTHSCAN_CONFIRM_ABOVE="1")
    questions: list[str] = []

    async def person(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        questions.append(params.message)
        return ElicitResult(action="accept", content={"spend": True})

    with replicas(2, env, tmp_path) as pair:
        balancer = RoundRobin([server.base_url for server in pair])
        with serve_app(balancer) as front:
            async with Client(f"{front}/mcp", mode="2026-07-28", elicitation_callback=person) as client:
                result = await client.call_tool("detect_images", {"paths": paths, "wait_seconds": 20})
    assert len(questions) == 1
    assert not result.is_error, text_of(result) + pair[0].stderr() + pair[1].stderr()
    assert structured(result)["totals"]["detections_paid"] == 2
    assert len(set(balancer.routed)) == 2
