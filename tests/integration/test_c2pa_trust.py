"""C2PA signers judged against the trust list, for real: c2pa's own trust settings, offline.

A file signed by a throwaway chain (made with `cryptography`, signed with c2pa-python's
Builder: tests/support/provenance.py) is valid but not trusted against the bundled snapshot of
the C2PA trust list; once a list holding that chain's root is installed with
`truthscan-mcp trust update --from FILE` (a real subprocess, into a throwaway data folder), the
same file, checked by a server through the official MCP client, is trusted. Nothing is mocked:
the trust decision is c2pa-rs's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mcp import Client

from tests.support import (
    make_server,
    make_settings,
    run_cli_process,
    scrub_truthscan_env,
    structured,
    text_of,
)
from tests.support import provenance as fx
from truthscan_mcp.provenance.trust_list import (
    ANCHORS_FILE,
    bundled_trust_list,
    current_trust_list,
    installed_dir,
)

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data folder of this test's own: `trust update` writes there, never into the user's."""
    scrub_truthscan_env(monkeypatch)
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


@pytest.fixture
async def client(sandbox: SandboxServer, tmp_path: Path) -> AsyncIterator[Client]:
    async with Client(make_server(make_settings(sandbox, tmp_path))) as connected:
        yield connected


async def check(client: Client, path: Path) -> dict[str, Any]:
    result = await client.call_tool("check_provenance", {"path": str(path)})
    assert not result.is_error, text_of(result)
    found = structured(result)
    assert found["summary"] == text_of(result)
    return found


@pytest.fixture
def signed_file(tmp_path: Path) -> Path:
    path = tmp_path / "signed.png"
    path.write_bytes(fx.c2pa_signed_png())
    return path


def test_the_bundled_snapshot_is_the_c2pa_list_with_its_recorded_hash() -> None:
    bundled = bundled_trust_list()
    meta = json.loads(
        (Path(__file__).parents[2] / "truthscan_mcp/provenance/trust/snapshot.json").read_text()
    )
    assert bundled.sha256 == meta["files"][ANCHORS_FILE]
    assert (bundled.name, bundled.date) == ("C2PA Trust List", meta["date"])
    assert bundled.certificates >= 20
    assert meta["source_url"].startswith("https://github.com/c2pa-org/conformance-public/")


async def test_a_throwaway_signer_is_valid_but_not_on_the_bundled_trust_list(
    client: Client, signed_file: Path
) -> None:
    c2pa = (found := await check(client, signed_file))["c2pa"]
    assert (c2pa["present"], c2pa["valid"], c2pa["trusted"]) == (True, True, False)
    bundled = bundled_trust_list()
    assert c2pa["trust_list"] == {"name": bundled.name, "date": bundled.date, "sha256": bundled.sha256}
    assert f"not on the C2PA Trust List (snapshot of {bundled.date})" in found["summary"]


async def test_the_same_file_is_trusted_once_its_root_is_on_an_installed_list(
    client: Client, signed_file: Path, tmp_path: Path, data_home: Path
) -> None:
    assert (await check(client, signed_file))["c2pa"]["trusted"] is False
    newer = tmp_path / "C2PA-TRUST-LIST.pem"
    newer.write_bytes(bundled_trust_list().anchors_pem.encode() + fx.throwaway_chain().root_pem)
    done = await run_cli_process(
        "trust", "update", "--from", str(newer), "--date", "2026-12-01", XDG_DATA_HOME=str(data_home)
    )
    assert done.returncode == 0, done.stderr
    assert "C2PA Trust List (snapshot of 2026-12-01)" in done.stdout
    # the running server picks the new list up at the next check, without a restart
    found = await check(client, signed_file)
    c2pa = found["c2pa"]
    assert (c2pa["valid"], c2pa["trusted"]) == (True, True)
    assert (c2pa["trust_list"]["name"], c2pa["trust_list"]["date"]) == ("C2PA Trust List", "2026-12-01")
    assert "Throwaway Signer" in found["summary"]
    assert "on the C2PA Trust List (snapshot of 2026-12-01)" in found["summary"]
    assert "not on the" not in found["summary"]


async def test_a_tampered_file_stays_invalid_whatever_the_list(
    client: Client, signed_file: Path, tmp_path: Path, data_home: Path
) -> None:
    newer = tmp_path / "list.pem"
    newer.write_bytes(fx.throwaway_chain().root_pem)
    assert (
        await run_cli_process("trust", "update", "--from", str(newer), XDG_DATA_HOME=str(data_home))
    ).returncode == 0
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(fx.tamper_one_pixel(fx.c2pa_signed_png()))
    c2pa = (await check(client, tampered))["c2pa"]
    assert c2pa["valid"] is False


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "no PEM certificate"),
        (b"hello, not a list", "no PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n", "no PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n", "not a DER-encoded certificate"),
        (b"x" * (3 * 1024 * 1024), "well under"),
    ],
)
async def test_trust_update_refuses_a_file_that_is_not_a_certificate_list(
    tmp_path: Path, data_home: Path, content: bytes, says: str
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(content)
    done = await run_cli_process("trust", "update", "--from", str(bad), XDG_DATA_HOME=str(data_home))
    assert done.returncode == 2
    assert says in done.stderr
    assert installed_dir() == data_home / "truthscan-mcp" / "trust"
    assert not (installed_dir() / ANCHORS_FILE).exists()
    assert current_trust_list(data_home / "truthscan-mcp" / "trust").origin == "bundled"


async def test_trust_show_names_the_list_in_use(data_home: Path) -> None:
    done = await run_cli_process("trust", "show", XDG_DATA_HOME=str(data_home))
    assert done.returncode == 0, done.stderr
    bundled = bundled_trust_list()
    assert f"C2PA Trust List (snapshot of {bundled.date})" in done.stdout
    assert bundled.sha256 in done.stdout
    assert "bundled with truthscan-mcp" in done.stdout
