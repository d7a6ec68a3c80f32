"""A cache that recovers: a full disk pauses it (never switches it off), a new file's schema
is safe to create from many processes at once, and `cache clear` removes only our own file.

The full disk is real: a small tmpfs mounted for the test (root only; skipped with a hint
elsewhere), filled to its last byte by a file the test then deletes. "Paid" is read from the
sandbox's own counters.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import pytest
from mcp import Client
from mcp.types import TextResourceContents

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    SandboxServer,
    make_server,
    make_settings,
    run_cli,
    scrub_truthscan_env,
    structured,
    text_of,
)

# --- a real full disk -----------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs of its own, unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "a full disk is simulated with a small tmpfs, which needs root (mount: "
            f"{mounted.stderr.decode().strip()}); run the test as root or in CI"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Write until the file system says ENOSPC; the filler's path (delete it to free the disk)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as sink:
        assert _write_until_error(sink, b"\0" * 4096) == errno.ENOSPC
    with contextlib.suppress(OSError), filler.open("ab", buffering=0) as sink:  # the last partial page
        while sink.write(b"\0"):
            pass
    return filler


def _write_until_error(sink: BinaryIO, chunk: bytes) -> int | None:
    try:
        while True:
            sink.write(chunk)
    except OSError as exc:
        return exc.errno


async def history_of(client: Client) -> dict[str, Any]:
    result = await client.read_resource("truthscan://history")
    (content,) = result.contents
    assert isinstance(content, TextResourceContents)
    return json.loads(content.text)


async def detect(client: Client, path: Path) -> dict[str, Any]:
    result = await client.call_tool("detect_image", {"path": str(path), "wait_seconds": 10})
    assert not result.is_error, text_of(result)
    return structured(result)


@pytest.mark.anyio
async def test_a_full_disk_pauses_the_cache_and_the_same_bytes_are_still_paid_once(
    sandbox: SandboxServer, small_disk: Path
) -> None:
    cache = small_disk / "results.sqlite3"
    settings = make_settings(sandbox, cache_path=cache, wait_seconds=10.0)
    async with Client(make_server(settings)) as client:
        await detect(client, CAMERA_JPG)  # the file works: created, and one result in it
        filler = fill(small_disk)
        first = await detect(client, AI_PNG)
        again = await detect(client, AI_PNG)
        degraded = await history_of(client)

        assert (first["cached"], again["cached"]) == (False, True)
        assert again["id"] == first["id"]
        assert sandbox.sandbox.stats.accepted_detects == 2  # the camera photo and the AI image, once
        assert degraded["cache"] == "degraded"
        assert [d["id"] for d in degraded["detections"][:2]] == [first["id"], first["id"]]

        filler.unlink()
        recovered: dict[str, Any] = {}

        async def reread() -> None:
            recovered.update(await history_of(client))

        deadline = time.monotonic() + 20
        while recovered.get("cache") != "on" and time.monotonic() < deadline:
            await reread()
            await detect(client, CAMERA_JPG)  # a cache call: the store tries the file again
            await anyio.sleep(0.2)
        assert recovered["cache"] == "on"
        assert first["id"] in [d["id"] for d in recovered["detections"]]
    with contextlib.closing(sqlite3.connect(cache)) as db:  # written down once the disk had room
        stored = db.execute("SELECT count(*) FROM results WHERE document_id = ?", (first["id"],)).fetchone()
    assert stored == (1,)
    assert sandbox.sandbox.stats.accepted_detects == 2


# --- many processes creating one new file ---------------------------------------------------

#: Opens the cache files `DIR/c<i>.sqlite3` one after another, each at its own wall-clock slot
#: shared by every process running this, and prints what went wrong with each.
OPENER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from truthscan_mcp.cache.database import Database

    folder, start, count = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    for i in range(count):
        time.sleep(max(0.0, start + i * 0.04 - time.time()))
        try:
            Database(folder / f"c{i}.sqlite3").close()
        except Exception as exc:
            print(f"c{i}: {type(exc).__name__}: {exc}", flush=True)
    """
)


def test_processes_opening_a_new_cache_file_at_the_same_moment_all_get_a_working_cache(
    tmp_path: Path,
) -> None:
    files = 40
    start = time.time() + 4.0  # every interpreter has started by then, even on a busy machine
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(tmp_path), str(start), str(files)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert "".join(outputs) == "", outputs
    for i in range(files):
        with contextlib.closing(sqlite3.connect(tmp_path / f"c{i}.sqlite3")) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            versions = db.execute("SELECT count(*) FROM schema_version").fetchone()
        assert {"schema_version", "results", "events", "claims"} <= tables
        assert versions == (1,)


# --- `cache clear` removes only our own file ------------------------------------------------


@pytest.fixture
def command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    scrub_truthscan_env(monkeypatch)


@pytest.mark.usefixtures("command_line")
def test_cache_clear_keeps_a_file_that_is_not_a_cache_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("Chapter 1. Five years of work.\n" * 200)
    before = thesis.read_bytes()
    cleared = run_cli(capsys, "cache", "clear", "--cache-path", str(thesis))
    assert cleared.returncode != 0
    assert thesis.read_bytes() == before
    assert "not a truthscan-mcp cache" in cleared.stderr
    assert "left it alone" in cleared.stderr
    assert cleared.stdout == ""


@pytest.mark.usefixtures("command_line")
def test_cache_clear_keeps_another_programs_sqlite_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.sqlite3"
    with contextlib.closing(sqlite3.connect(notes)) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
        db.commit()
    cleared = run_cli(capsys, "cache", "clear", "--cache-path", str(notes))
    assert cleared.returncode != 0
    assert "not a truthscan-mcp cache" in cleared.stderr
    with contextlib.closing(sqlite3.connect(notes)) as db:
        assert db.execute("SELECT text FROM notes").fetchall() == [("keep me",)]


@pytest.mark.usefixtures("command_line")
def test_cache_clear_removes_our_database_with_its_wal_and_shm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from truthscan_mcp.cache.database import Database

    cache = tmp_path / "c.sqlite3"
    Database(cache).close()
    cleared = run_cli(capsys, "cache", "clear", "--cache-path", str(cache))
    assert cleared.returncode == 0, cleared.stderr
    assert run_cli(capsys, "cache", "stats", "--json", "--cache-path", str(cache)).returncode == 0


@pytest.mark.usefixtures("command_line")
@pytest.mark.parametrize("command", [("cache", "clear"), ("cache", "stats")])
def test_an_empty_cache_path_is_a_clear_error_not_the_default(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, *command, "--cache-path", "")
    assert run.returncode == 2
    assert "--cache-path" in run.stderr
    assert "empty" in run.stderr
    assert "'off'" in run.stderr


def test_an_empty_cache_path_in_the_environment_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUTHSCAN_")}
    env["TRUTHSCAN_CACHE_PATH"] = ""
    done = subprocess.run(
        [sys.executable, "-m", "truthscan_mcp", "cache", "stats"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 3  # a bad TRUTHSCAN_* value: the configuration's exit status
    assert "TRUTHSCAN_CACHE_PATH" in done.stderr.decode()
    assert "empty" in done.stderr.decode()
