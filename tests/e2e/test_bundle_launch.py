"""The packed desktop bundle, launched the way a desktop host launches it.

`mcpb pack` builds the .mcpb from a copy of the repository (so the bundle holds exactly what
.mcpbignore lets through); the archive is unzipped and its manifest's `mcp_config` turned into
a command line and environment as the host computes them (`${__dirname}`, `${user_config.*}`,
one argument per chosen folder, an unset key left as its literal placeholder). The host would
run `uv run --directory <bundle> truthscan-mcp ...`; most tests run the same entry point with
this interpreter from the bundle directory, importing the bundle's copy of the package
(checked), with this environment's dependencies. That cannot see what uv does differently from
pip (it resolves for every platform at once, from the bundle's uv.lock), so one test runs the
real `uv run` as the host would (when uv is installed: the `test` extra has it); uv's cache
makes every start after the first a matter of seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.support import AI_PNG, ROOT, assert_error, child_env, structured, text_of
from tests.support.bundle import host_launch

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = pytest.mark.anyio

MCPB = "@anthropic-ai/mcpb@2.1.2"
#: what a copy of the repository leaves behind: never part of a bundle, and slow to copy
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", ".*_cache", "*.mcpb")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked bundle directory (packed once for the module)."""
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed: cannot pack the bundle")
    work = tmp_path_factory.mktemp("bundle")
    source = work / "repo"
    shutil.copytree(ROOT, source, ignore=_NOT_COPIED)
    packed = work / "out.mcpb"
    done = subprocess.run(
        [npx, "-y", MCPB, "pack", str(source), str(packed)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 and "ENOTFOUND" in done.stderr + done.stdout:
        pytest.skip(f"npx cannot fetch {MCPB} (no registry access)")
    assert done.returncode == 0, done.stdout + done.stderr
    unpacked = work / "unpacked"
    with zipfile.ZipFile(packed) as archive:
        archive.extractall(unpacked)
    return unpacked


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The one folder the user chose in the bundle's "Image folders" setting."""
    (tmp_path / "ai.png").write_bytes(AI_PNG.read_bytes())
    return tmp_path


def _launch(bundle: Path, user_config: dict[str, Any], **extra_env: str) -> StdioServerParameters:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    command, env = host_launch(manifest, user_config, str(bundle))
    assert command[:5] == ["uv", "run", "--directory", str(bundle), "truthscan-mcp"]
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "truthscan_mcp", *command[5:]],
        env=child_env(**env, **extra_env),
        cwd=str(bundle),
    )


def test_the_launch_imports_the_bundles_own_copy_of_the_package(bundle: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import truthscan_mcp; print(truthscan_mcp.__file__)"],
        cwd=bundle,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(found).is_relative_to(bundle)


async def test_the_bundle_with_no_key_and_the_sandbox_switch_on_detects_a_sample(
    bundle: Path, folder: Path
) -> None:
    params = _launch(bundle, {"allowed_directories": [str(folder)], "sandbox": True})
    assert params.env is not None
    assert params.env["TRUTHSCAN_API_KEY"] == "${user_config.api_key}"  # the host left it unset
    async with Client(params) as client:
        result = await client.call_tool("detect_image", {"path": str(folder / "ai.png"), "wait_seconds": 30})
    assert not result.is_error, text_of(result)
    assert "SIMULATED" in text_of(result)
    assert structured(result)["simulated"] is True


async def test_the_bundle_with_no_key_and_the_switch_off_starts_and_says_how_to_add_the_key(
    bundle: Path, folder: Path, sandbox: SandboxServer
) -> None:
    # The API URL points at the loopback sandbox only so that `health` never leaves this machine.
    params = _launch(bundle, {"allowed_directories": [str(folder)]}, TRUTHSCAN_API_URL=sandbox.api_url)
    async with Client(params) as client:
        health = await client.call_tool("health", {})
        detect = await client.call_tool("detect_image", {"path": str(folder / "ai.png")})
    assert not health.is_error, text_of(health)
    assert structured(health)["api_key_configured"] is False
    text = assert_error(detect, "open the extension's settings in Claude Desktop", "'Try without a key'")
    assert "TRUTHSCAN_API_KEY" not in text
    assert sandbox.sandbox.stats.requests["detect"] == 0


#: The first start under uv downloads every dependency into uv's cache; later ones link from it.
_UV_FIRST_START = 240


def _real_uv_launch(bundle: Path, user_config: dict[str, Any]) -> StdioServerParameters:
    """The manifest's command line exactly as the host runs it: the real `uv run`."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed: `pip install uv` (the test extra has it) to start it with `uv run`")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    command, env = host_launch(manifest, user_config, str(bundle))
    assert command[0] == "uv"
    child = child_env(**env)
    child.pop("VIRTUAL_ENV", None)  # a host starts uv outside any virtualenv
    return StdioServerParameters(command=uv, args=command[1:], env=child, cwd=str(bundle))


async def test_the_bundle_starts_under_the_real_uv_run_from_its_own_lock(bundle: Path, folder: Path) -> None:
    lock = (bundle / "uv.lock").read_bytes()
    params = _real_uv_launch(bundle, {"allowed_directories": [str(folder)], "sandbox": True})
    with anyio.fail_after(_UV_FIRST_START):
        async with Client(params) as client:
            result = await client.call_tool("detect_image", {"path": str(folder / "ai.png")})
    assert not result.is_error, text_of(result)
    assert structured(result)["simulated"] is True
    # uv installed into the bundle's own environment from the lock it carries, unchanged: what
    # the user gets is what `.ci/run` resolved for every platform.
    assert (bundle / ".venv").is_dir()
    assert (bundle / "uv.lock").read_bytes() == lock
