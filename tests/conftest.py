"""Fixtures every tier shares: one real sandbox server per session, reset before each test that
uses it, the loopback-only connection guard, and the settings of the image-source tests; and
how many workers a run starts. Helpers live in tests/support/."""

from __future__ import annotations

import sys

# Bytecode caches are written even where the environment asks not to (PYTHONDONTWRITEBYTECODE,
# set on these machines): otherwise each of a run's five processes rewrites and compiles every
# test module again, and each of its ~30 server subprocesses every module of the package, about
# a minute of CPU on two cores. The caches go where they always do (`__pycache__`, ignored by
# git, the wheel and the bundle). First, so that what the lines below import is cached too.
sys.dont_write_bytecode = False

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import PROTOCOL_MODES, ConnectLog, SandboxServer, scrub_truthscan_env, short_sandbox_config
from tests.support.guards import guard_loopback

if TYPE_CHECKING:
    from tests.support.postgres import Cluster
from truthscan_mcp.sandbox import Sandbox, serve_in_thread
from truthscan_mcp.settings import Settings

#: Workers for a run that includes the tiers above `unit`: most of their tests wait on a loopback
#: server, a subprocess or a browser rather than compute, so twice this 2-core machine's cores
#: keep both busy.
WORKERS = 4
#: tiers run in one process: the unit tests finish before four workers would have started, and
#: the soak test is one test that prints its figures
SERIAL_TIERS = (Path(__file__).parent / "unit", Path(__file__).parent / "soak")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """What `-n auto` (pyproject's default) starts: `WORKERS`, or none (one process, as without
    xdist) when only `SERIAL_TIERS` or tests named with `::` were asked for. `-n N` on the command
    line overrides it."""
    chosen = [str(arg) for arg in config.args]
    if chosen and all(
        "::" in arg or any(_within(Path(arg), tier) for tier in SERIAL_TIERS) for arg in chosen
    ):
        return 0
    return WORKERS


def _within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    sandbox = Sandbox(short_sandbox_config())
    with serve_in_thread(sandbox) as base_url:
        yield SandboxServer(sandbox, base_url)


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The session's sandbox server, as good as new: state, faults and config restored."""
    sandbox_server.sandbox.config = short_sandbox_config()
    sandbox_server.sandbox.clock = time.monotonic
    sandbox_server.sandbox.reset()
    return sandbox_server


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> ConnectLog:
    """Fail on any non-loopback connection, and log the targets: for modules whose tests reason
    about addresses (`pytestmark = pytest.mark.usefixtures("loopback_only")`)."""
    return guard_loopback(monkeypatch)


@pytest.fixture(scope="session")
def signed() -> bytes:
    """A PNG with a valid C2PA manifest declaring AI, signed by a throwaway (untrusted) chain."""
    from tests.support import provenance

    return provenance.c2pa_signed_png()


@pytest.fixture
def no_user_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TRUTHSCAN_* variable (or .env) of the machine running the tests reaches the code under
    test: for modules that build settings the way a user's server would
    (`pytestmark = pytest.mark.usefixtures("no_user_configuration")`)."""
    scrub_truthscan_env(monkeypatch)


@pytest.fixture(scope="module", params=PROTOCOL_MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each protocol revision the server speaks, for a module that runs its tests under each."""
    return str(request.param)


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    """A fresh folder that the source tests' settings allow (a module may define its own)."""
    directory = tmp_path / "allowed"
    directory.mkdir()
    return directory


@pytest.fixture
def cfg(allowed: Path) -> Settings:
    """Only `allowed` may be read, private URLs are refused, no cache."""
    return Settings(allowed_dirs=[allowed], allow_private_urls=False, cache_path=None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster on loopback for the session (skips when not installed)."""
    from tests.support.postgres import INSTALL_HINT, postgres_bin, postgres_cluster

    if postgres_bin() is None:
        pytest.skip(INSTALL_HINT)
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(postgres: Cluster) -> str:
    """A fresh, empty database on the session's cluster."""
    return postgres.new_database()
