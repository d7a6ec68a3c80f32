"""The `truthscan-mcp` command line, run as a person or a script would run it: a subprocess.

The detections run side by side (they are independent) against the loopback sandbox, so the
module costs about one process start-up rather than one per test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

from tests.mcp_helpers import AI_SAMPLE, CAMERA_SAMPLE, SAMPLES, child_env, free_port, live_env
from truthscan_mcp import __version__

if TYPE_CHECKING:
    from tests.conftest import SandboxServer

MODULE = [sys.executable, "-m", "truthscan_mcp"]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def run(args: list[str], env: Mapping[str, str], timeout: float = 60) -> Run:
    done = subprocess.run(
        [*MODULE, *args], env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr)


def run_side_by_side(commands: Mapping[str, tuple[list[str], Mapping[str, str]]]) -> dict[str, Run]:
    started = {
        name: subprocess.Popen(
            [*MODULE, *args], env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, (args, env) in commands.items()
    }
    runs: dict[str, Run] = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=90)
        runs[name] = Run(process.returncode, stdout, stderr)
    return runs


@pytest.fixture(scope="module")
def detections(sandbox_server: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every `detect` invocation of this module, run at once."""
    workdir = tmp_path_factory.mktemp("cli")
    missing = str(workdir / "missing.png")
    live = live_env(sandbox_server, workdir)
    no_key = {k: v for k, v in live.items() if k != "TRUTHSCAN_API_KEY"}
    sandboxed = child_env(TRUTHSCAN_ALLOWED_DIRS=str(SAMPLES))
    return run_side_by_side(
        {
            "text": (["detect", str(AI_SAMPLE)], live),
            "json": (
                ["detect", "--json", "--no-deep-analysis", str(AI_SAMPLE), str(CAMERA_SAMPLE), missing],
                live,
            ),
            "sandbox": (["--sandbox", "detect", "--no-deep-analysis", str(CAMERA_SAMPLE)], sandboxed),
            "no key": (["detect", str(AI_SAMPLE)], no_key),
        }
    )


# --- detect ---------------------------------------------------------------------------------


def test_detect_prints_a_readable_report_and_exits_0(detections: dict[str, Run]) -> None:
    result = detections["text"]
    assert result.returncode == 0, result.stderr
    assert "Verdict for ai-generated.png: AI Generated" in result.stdout
    assert "Deep analysis" in result.stdout
    assert "id: " in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_detect_shows_progress_on_stderr_not_stdout(detections: dict[str, Run]) -> None:
    result = detections["text"]
    assert "[100%]" in result.stderr
    assert "Uploading" in result.stderr
    assert "%]" not in result.stdout


def test_detect_json_prints_one_entry_per_image_for_scripts(detections: dict[str, Run]) -> None:
    entries: list[dict[str, Any]] = json.loads(detections["json"].stdout)
    assert [Path(e["input"]).name for e in entries] == ["ai-generated.png", "camera-photo.jpg", "missing.png"]
    assert [e["report"]["verdict"] for e in entries[:2]] == ["AI Generated", "Real"]
    assert all(e["report"]["complete"] for e in entries[:2])


def test_detect_json_reports_a_failed_image_with_its_code(detections: dict[str, Run]) -> None:
    failed = json.loads(detections["json"].stdout)[2]
    assert failed["code"] == "invalid_input"
    assert "There is no file at" in failed["error"]
    assert "report" not in failed


def test_detect_exits_1_when_any_image_fails_and_says_why_on_stderr(detections: dict[str, Run]) -> None:
    result = detections["json"]
    assert result.returncode == 1
    assert "missing.png: error: There is no file at" in result.stderr
    assert "Traceback" not in result.stderr


def test_detect_with_sandbox_flag_labels_the_verdict_simulated(detections: dict[str, Run]) -> None:
    result = detections["sandbox"]
    assert result.returncode == 0, result.stderr
    assert "Verdict for camera-photo.jpg: Real" in result.stdout
    assert "SIMULATED" in result.stdout


def test_detect_without_a_key_in_live_mode_says_how_to_configure_one(detections: dict[str, Run]) -> None:
    result = detections["no key"]
    assert result.returncode == 1
    assert "TRUTHSCAN_API_KEY" in result.stderr
    assert "--sandbox" in result.stderr
    assert result.stdout == ""


# --- configuration and the rest of the command surface --------------------------------------


def test_invalid_environment_names_the_variable_and_the_option() -> None:
    result = run(["detect", str(AI_SAMPLE)], child_env(TRUTHSCAN_WAIT_SECONDS="soon"))
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert "TRUTHSCAN_WAIT_SECONDS (--wait-seconds)" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_option_names_the_variable_and_the_option() -> None:
    result = run(["--api-url", "ftp://example.invalid", "detect", str(AI_SAMPLE)], child_env())
    assert result.returncode == 2
    assert "TRUTHSCAN_API_URL (--api-url)" in result.stderr
    assert "http" in result.stderr


def test_invalid_configuration_does_not_echo_a_secret() -> None:
    result = run(
        ["--max-concurrency", "0", "detect", str(AI_SAMPLE)], child_env(TRUTHSCAN_API_KEY="sk-canary-42")
    )
    assert result.returncode == 2
    assert "TRUTHSCAN_MAX_CONCURRENCY" in result.stderr
    assert "sk-canary-42" not in result.stderr + result.stdout


def test_version_flag_prints_the_package_version() -> None:
    result = run(["--version"], child_env())
    assert (result.returncode, result.stdout.strip()) == (0, f"truthscan-mcp {__version__}")


def test_truthscan_mcp_command_is_installed() -> None:
    script = Path(sys.executable).parent / ("truthscan-mcp.exe" if os.name == "nt" else "truthscan-mcp")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"truthscan-mcp {__version__}")


def test_unknown_command_is_a_usage_error() -> None:
    result = run(["inspect"], child_env())
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.fixture
def sandbox_command() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [*MODULE, "sandbox", "--port", str(port)],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_sandbox_command_serves_the_simulator_on_the_given_port(
    sandbox_command: tuple[str, subprocess.Popen[str]],
) -> None:
    base_url, process = sandbox_command
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, process.communicate()[1]
        try:
            response = httpx2.get(f"{base_url}/health", timeout=1)
            break
        except httpx2.TransportError:
            assert time.monotonic() < deadline, "the sandbox never answered"
            time.sleep(0.05)
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.headers["x-truthscan-simulated"] == "true"
    presign = httpx2.get(
        f"{base_url}/get-presigned-url", params={"file_name": "a.png"}, headers={"apikey": "k"}, timeout=5
    )
    assert presign.status_code == 200
