"""Evidence reports outside the process: `detect --report DIR`, `report ID... [--out DIR]`, and
`export_report` over stdio as a desktop app spawns the server.

Run through `cli.main` in this process (the code a shell runs), configured by environment
variables as a person would, against the loopback sandbox; `report` in a second run reads
what the first one recorded in the result cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mcp import Client
from mcp.types import ResourceLink

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    KEY,
    live_env,
    run_cli,
    run_cli_process,
    scrub_truthscan_env,
    stdio_params,
    structured,
    text_of,
)

if TYPE_CHECKING:
    from tests.support import SandboxServer


@pytest.fixture(autouse=True)
def live(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, tmp_path: Path) -> Iterator[Path]:
    """The command pointed at the loopback sandbox, with a cache file of its own; a folder of
    the two samples to check."""
    scrub_truthscan_env(monkeypatch)
    images = tmp_path / "images"
    images.mkdir()
    for sample in (AI_PNG, CAMERA_JPG):
        shutil.copy(sample, images / sample.name)
    monkeypatch.setenv("TRUTHSCAN_API_URL", sandbox.api_url)
    monkeypatch.setenv("TRUTHSCAN_STORAGE_URL", sandbox.storage_url)
    monkeypatch.setenv("TRUTHSCAN_API_KEY", KEY)
    monkeypatch.setenv("TRUTHSCAN_ALLOWED_DIRS", str(tmp_path))
    monkeypatch.setenv("TRUTHSCAN_CACHE_PATH", str(tmp_path / "cache.sqlite3"))
    monkeypatch.setenv("TRUTHSCAN_REPORTS_DIR", str(tmp_path / "default reports"))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield images
    root.handlers[:] = handlers
    root.setLevel(level)


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecars(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def test_detect_report_on_a_folder_writes_one_report_per_image_and_an_index(
    capsys: pytest.CaptureFixture[str], live: Path, tmp_path: Path
) -> None:
    out = tmp_path / "case"
    run = run_cli(capsys, "detect", str(live), "--report", str(out))
    assert run.returncode == 0, run.stderr
    facts = sidecars(out)
    assert sorted(f["custody"]["source_name"] for f in facts) == ["ai-generated.png", "camera-photo.jpg"]
    for fact in facts:
        html = out / fact["html_file"]
        assert hashlib.sha256(html.read_bytes()).hexdigest() == fact["html_sha256"]
        checked = live / fact["custody"]["source_name"]
        assert fact["custody"]["sha256"] == hashlib.sha256(checked.read_bytes()).hexdigest()
    [index] = out.glob("truthscan-reports-index_*.html")
    page = index.read_text(encoding="utf-8")
    for fact in facts:
        assert fact["html_file"] in page
        assert fact["html_sha256"] in page
    assert f"index: {index}" in run.stderr


def test_detect_report_for_one_image_writes_its_report_without_an_index(
    capsys: pytest.CaptureFixture[str], live: Path, tmp_path: Path
) -> None:
    out = tmp_path / "one"
    run = run_cli(capsys, "detect", str(live / "ai-generated.png"), "--report", str(out))
    assert run.returncode == 0, run.stderr
    assert len(sidecars(out)) == 1
    assert list(out.glob("*index*")) == []


def test_report_in_a_later_run_uses_the_custody_the_first_run_recorded(
    capsys: pytest.CaptureFixture[str], live: Path, tmp_path: Path
) -> None:
    first = run_cli(capsys, "detect", str(live / "camera-photo.jpg"), "--json")
    assert first.returncode == 0, first.stderr
    doc_id = json.loads(first.stdout)["results"][0]["id"]
    run = run_cli(capsys, "report", doc_id)
    assert run.returncode == 0, run.stderr
    [fact] = sidecars(tmp_path / "default reports")  # TRUTHSCAN_REPORTS_DIR, created
    assert fact["custody"]["document_id"] == doc_id
    assert fact["custody"]["source_path"] == str(live / "camera-photo.jpg")
    assert fact["custody"]["submitted_at"] is not None
    assert fact["picture"]["identical_to_checked"] is True


def test_report_finishes_a_detection_left_unfinished_then_writes_its_report(
    capsys: pytest.CaptureFixture[str], live: Path, tmp_path: Path
) -> None:
    first = run_cli(capsys, "detect", str(live / "ai-generated.png"), "--json", "--wait-seconds", "0")
    row = json.loads(first.stdout)["results"][0]
    assert row["complete"] is False  # handed off at once: paid, with its id
    run = run_cli(capsys, "report", row["id"], "--out", str(tmp_path / "later"), "--wait-seconds", "30")
    assert run.returncode == 0, run.stderr
    [fact] = sidecars(tmp_path / "later")
    assert fact["detection"]["complete"] is True
    assert fact["custody"]["sha256"] == hashlib.sha256(AI_PNG.read_bytes()).hexdigest()
    custody = fact["custody"]
    assert datetime.fromisoformat(custody["completed_at"]) >= datetime.fromisoformat(custody["submitted_at"])


def test_report_of_an_unknown_id_says_how_to_get_one_in_terminal_words(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = run_cli(capsys, "report", "77565038-9e3d-4e6a-8c80-e20785be5ee9", "--out", str(tmp_path / "x"))
    assert run.returncode == 1
    assert "TruthScan has no document with id 77565038-9e3d-4e6a-8c80-e20785be5ee9" in run.stderr
    assert "truthscan-mcp detect" in run.stderr
    assert "detect_image" not in run.stderr
    assert "export_report" not in run.stderr
    assert "Traceback" not in run.stderr
    assert sidecars(tmp_path / "x") == []


def test_report_of_something_that_is_not_an_id_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "report", "photo.jpg")
    assert run.returncode == 1
    assert "not a TruthScan document id" in run.stderr


# --- the same tool over stdio, as a desktop app runs the server --------------------------------


@pytest.mark.anyio
async def test_export_report_over_stdio_writes_into_the_configured_reports_folder(
    sandbox_server: SandboxServer, live: Path, tmp_path: Path
) -> None:
    reports = tmp_path / "stdio reports"
    env = live_env(
        sandbox_server,
        tmp_path,
        TRUTHSCAN_REPORTS_DIR=str(reports),
        TRUTHSCAN_CACHE_PATH=str(tmp_path / "stdio-cache.sqlite3"),
    )
    async with Client(stdio_params(env=env)) as client:
        detected = await client.call_tool("detect_image", {"path": str(live / "ai-generated.png")})
        assert not detected.is_error, text_of(detected)
        result = await client.call_tool("export_report", {"id": structured(detected)["id"]})
        assert not result.is_error, text_of(result)
        found = structured(result)
        assert found["summary"] == text_of(result)
        links = [block.uri for block in result.content if isinstance(block, ResourceLink)]
    html = Path(found["html_path"])
    assert html.parent == reports
    assert [str(u) for u in links] == [html.as_uri(), Path(found["json_path"]).as_uri()]
    assert digest_of(html) == found["html_sha256"]


@pytest.mark.anyio
async def test_the_demo_shows_an_evidence_report_being_written() -> None:
    done = await run_cli_process("demo")
    assert done.returncode == 0, done.stderr
    assert "> export_report(id=" in done.stdout
    assert "Evidence report written for" in done.stdout
    assert "SHA-256 of the HTML:" in done.stdout


def test_report_in_a_later_sandbox_run_says_to_write_it_in_the_same_run(
    capsys: pytest.CaptureFixture[str], live: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--sandbox` simulates TruthScan inside each command: the second run's simulator has never
    # seen the id. Saying "TruthScan has no document" would send the person hunting for a typo.
    for name in ("TRUTHSCAN_API_URL", "TRUTHSCAN_STORAGE_URL", "TRUTHSCAN_API_KEY"):
        monkeypatch.delenv(name)
    first = run_cli(capsys, "--sandbox", "detect", str(live / "camera-photo.jpg"), "--json")
    assert first.returncode == 0, first.stderr
    doc_id = json.loads(first.stdout)["results"][0]["id"]
    run = run_cli(capsys, "--sandbox", "report", doc_id, "--out", str(tmp_path / "later"))
    assert run.returncode == 1
    assert "forgets its detections when the command ends" in run.stderr
    assert "TruthScan has no document" not in run.stderr
    same_run = run_cli(
        capsys, "--sandbox", "detect", str(live / "camera-photo.jpg"), "--report", str(tmp_path / "now")
    )
    assert same_run.returncode == 0, same_run.stderr
    assert len(sidecars(tmp_path / "now")) == 1


def test_a_malformed_id_is_explained_in_terminal_words(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "report", "1234")
    assert run.returncode == 1
    assert "as `truthscan-mcp detect` prints it" in run.stderr
    assert "detect_image" not in run.stderr
