"""Per-user caps and history (TRUTHSCAN_PER_USER), over real HTTP on loopback with real tokens.

The identity provider (`tests.support.identity`) mints JWTs for two subjects; the server is the
HTTP transport as an OAuth resource server on a SQLite cache, detecting against the loopback
sandbox, whose own counters say what was paid (`/detect`). Each user's cap, count and history
are theirs; the content cache stays shared, so bytes one user paid for are free for the other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncGenerator, Generator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextResourceContents
from pydantic import ValidationError

from tests.support import (
    SandboxServer,
    assert_error,
    free_port,
    make_settings,
    run_cli,
    serve_app,
    structured,
    text_of,
)
from tests.support.identity import IdentityProvider
from tests.support.images import write_images
from truthscan_mcp.adapter.oauth import oauth_from, user_scope
from truthscan_mcp.adapter.transports import build_http_app
from truthscan_mcp.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_user_configuration")]

ALICE, BOB = "alice@newsroom.example", "bob@newsroom.example"


@dataclass
class Team:
    """A team's server: its MCP URL, the audience its tokens name, the issuer, its cache file."""

    url: str
    audience: str
    idp: IdentityProvider
    cache: Path

    @asynccontextmanager
    async def client(self, subject: str) -> AsyncGenerator[Client]:
        """An MCP client holding a good token for `subject`."""
        token = self.idp.token(self.audience, sub=subject)
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
            Client(streamable_http_client(self.url, http_client=http)) as client,
        ):
            yield client


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    with serve_app(provider.app()) as base_url:
        provider.issuer = base_url
        yield provider


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The team's shared store: a SQLite file (in the test's folder), or a fresh PostgreSQL database."""
    if request.param == "postgres":
        return {"cache_url": request.getfixturevalue("pg_url")}
    return {}


@contextmanager
def team_server(
    sandbox: SandboxServer,
    idp: IdentityProvider,
    folder: Path,
    *,
    per_user: bool,
    cap: int,
    store: dict[str, Any] | None = None,
) -> Generator[Team]:
    port = free_port()
    audience = f"http://127.0.0.1:{port}/mcp"
    cache = folder / "team.sqlite3"
    settings = make_settings(
        sandbox,
        folder,
        cache_path=cache,
        **(store or {}),
        wait_seconds=10.0,
        oauth_issuer=idp.issuer,
        oauth_audience=audience,
        per_user=per_user,
        max_detections_per_day=cap,
    )
    app = build_http_app(settings, "127.0.0.1", oauth=oauth_from(settings))
    with serve_app(app, lifespan="on", port=port) as base_url:
        yield Team(f"{base_url}/mcp", audience, idp, cache)


async def detect(client: Client, path: Path) -> dict[str, Any]:
    result = await client.call_tool("detect_image", {"path": str(path), "deep_analysis": False})
    assert not result.is_error, text_of(result)
    return structured(result)


async def detections_today(client: Client) -> int:
    result = await client.call_tool("check_credits", {})
    assert not result.is_error, text_of(result)
    return int(structured(result)["detections_today"])


async def history_of(client: Client) -> dict[str, Any]:
    (content,) = (await client.read_resource("truthscan://history")).contents
    assert isinstance(content, TextResourceContents)
    return json.loads(content.text)


def paid(sandbox: SandboxServer) -> int:
    return sandbox.sandbox.stats.requests["detect"]


async def test_one_user_at_the_daily_cap_does_not_block_another(
    sandbox: SandboxServer, idp: IdentityProvider, tmp_path: Path, store: dict[str, Any]
) -> None:
    first, second = write_images(tmp_path, 2)
    with team_server(sandbox, idp, tmp_path, per_user=True, cap=1, store=store) as team:
        async with team.client(ALICE) as alice, team.client(BOB) as bob:
            await detect(alice, first)
            refused = await alice.call_tool("detect_image", {"path": str(second), "deep_analysis": False})
            assert_error(
                refused, "daily limit of 1 paid detection is reached", "per user", "nothing was uploaded"
            )
            assert paid(sandbox) == 1
            report = await detect(bob, second)
    assert report["cached"] is False
    assert paid(sandbox) == 2


async def test_check_credits_counts_each_users_own_detections_today(
    sandbox: SandboxServer, idp: IdentityProvider, tmp_path: Path, store: dict[str, Any]
) -> None:
    images = write_images(tmp_path, 3)
    with team_server(sandbox, idp, tmp_path, per_user=True, cap=5, store=store) as team:
        async with team.client(ALICE) as alice, team.client(BOB) as bob:
            await detect(alice, images[0])
            await detect(alice, images[1])
            await detect(bob, images[2])
            assert await detections_today(alice) == 2
            assert await detections_today(bob) == 1
            assert (await history_of(alice))["detections_today"] == 2


async def test_each_users_history_lists_only_their_own_detections(
    sandbox: SandboxServer, idp: IdentityProvider, tmp_path: Path, store: dict[str, Any]
) -> None:
    first, second = write_images(tmp_path, 2)
    with team_server(sandbox, idp, tmp_path, per_user=True, cap=5, store=store) as team:
        async with team.client(ALICE) as alice, team.client(BOB) as bob:
            alices = (await detect(alice, first))["id"]
            bobs = (await detect(bob, second))["id"]
            assert alices != bobs
            assert [entry["id"] for entry in (await history_of(alice))["detections"]] == [alices]
            assert [entry["id"] for entry in (await history_of(bob))["detections"]] == [bobs]


async def test_another_users_image_is_answered_free_from_the_shared_cache_and_in_their_history(
    sandbox: SandboxServer, idp: IdentityProvider, tmp_path: Path, store: dict[str, Any]
) -> None:
    (image,) = write_images(tmp_path, 1)
    with team_server(sandbox, idp, tmp_path, per_user=True, cap=1, store=store) as team:
        async with team.client(ALICE) as alice, team.client(BOB) as bob:
            alices = await detect(alice, image)
            bobs = await detect(bob, image)  # Alice is at her cap; Bob pays nothing
            assert bobs["id"] == alices["id"]
            assert bobs["cached"] is True
            assert paid(sandbox) == 1
            assert await detections_today(bob) == 0
            (entry,) = (await history_of(bob))["detections"]
    assert entry["id"] == alices["id"]
    assert entry["cached"] is True


async def test_without_per_user_the_daily_cap_is_shared_by_everyone(
    sandbox: SandboxServer, idp: IdentityProvider, tmp_path: Path, store: dict[str, Any]
) -> None:
    first, second = write_images(tmp_path, 2)
    with team_server(sandbox, idp, tmp_path, per_user=False, cap=1, store=store) as team:
        async with team.client(ALICE) as alice, team.client(BOB) as bob:
            await detect(alice, first)
            refused = await bob.call_tool("detect_image", {"path": str(second), "deep_analysis": False})
            assert_error(refused, "daily limit of 1 paid detection is reached")
            assert "per user" not in text_of(refused)
            assert await detections_today(bob) == 1
            assert len((await history_of(bob))["detections"]) == 1
    assert paid(sandbox) == 1


async def test_the_store_keeps_a_hash_of_the_user_never_the_subject(
    sandbox: SandboxServer, idp: IdentityProvider, tmp_path: Path
) -> None:
    (image,) = write_images(tmp_path, 1)
    with team_server(sandbox, idp, tmp_path, per_user=True, cap=5) as team:
        async with team.client(ALICE) as alice:
            await detect(alice, image)
    events, ledger, raw = read_store(team.cache)
    scope = user_scope(idp.issuer, ALICE)
    assert events == [scope]
    (ledger_scope,) = ledger
    assert ledger_scope.endswith(f"user:{scope}")
    assert ALICE.encode() not in raw
    assert b"alice" not in raw


def read_store(cache: Path) -> tuple[list[str], list[str], bytes]:
    """The events' user scopes, the ledger's scopes, and every byte of the file (and its WAL)."""
    with sqlite3.connect(cache) as db:
        events = [str(row[0]) for row in db.execute("SELECT user_scope FROM events")]
        ledger = [str(row[0]) for row in db.execute("SELECT scope FROM ledger")]
    return events, ledger, b"".join(path.read_bytes() for path in cache.parent.glob(f"{cache.name}*"))


def test_the_same_subject_from_another_issuer_is_another_user() -> None:
    assert user_scope("https://a.example", "7") != user_scope("https://b.example", "7")
    assert user_scope("https://a.example\n7", "") != user_scope("https://a.example", "7\n")
    assert len(user_scope("https://a.example", "7")) == 32


def test_per_user_without_oauth_is_refused_saying_what_to_set() -> None:
    with pytest.raises(ValidationError, match="TRUTHSCAN_PER_USER is set without TRUTHSCAN_OAUTH_ISSUER"):
        make_settings(None, per_user=True)


def test_the_per_user_option_without_oauth_stops_the_server_saying_what_to_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(capsys, "serve", "--transport", "http", "--port", str(free_port()), "--per-user")
    assert result.returncode == 3
    assert "TRUTHSCAN_PER_USER is set without TRUTHSCAN_OAUTH_ISSUER" in result.stderr
    assert "set the issuer" in result.stderr


def test_a_rule_across_settings_is_reported_in_its_own_words(capsys: pytest.CaptureFixture[str]) -> None:
    """A refusal that belongs to no one setting names no empty variable and no pydantic prefix."""
    result = run_cli(capsys, "serve", "--transport", "http", "--port", str(free_port()), "--per-user")
    assert "TRUTHSCAN_ (--)" not in result.stderr
    assert "Value error" not in result.stderr
    assert "\n  TRUTHSCAN_PER_USER is set without" in result.stderr


def test_per_user_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHSCAN_PER_USER", "true")
    monkeypatch.setenv("TRUTHSCAN_OAUTH_ISSUER", "https://login.example.org/realms/newsroom")
    monkeypatch.setenv("TRUTHSCAN_OAUTH_AUDIENCE", "https://truthscan.example.org/mcp")
    assert Settings().per_user is True
