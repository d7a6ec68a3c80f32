"""The `truthscan-mcp` command line.

`detect` and the configuration errors run through `cli.main` in this process (the same code a
shell runs, minus the interpreter start-up), configured by environment variables as a user
would; the entry points and the blocking `sandbox` server run as real subprocesses.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import httpx2
import pytest

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    KEY,
    SAMPLES,
    child_env,
    free_port,
    run_cli,
    run_cli_process,
    scrub_truthscan_env,
)
from truthscan_mcp import __version__

if TYPE_CHECKING:
    from tests.support import SandboxServer


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No TRUTHSCAN_* from the developer, never the user's cache, and pytest's logging restored."""
    scrub_truthscan_env(monkeypatch)
    monkeypatch.setenv("TRUTHSCAN_CACHE_PATH", "off")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, tmp_path: Path) -> Path:
    """Environment pointing the command at the loopback sandbox; returns a readable work dir."""
    monkeypatch.setenv("TRUTHSCAN_API_URL", sandbox.api_url)
    monkeypatch.setenv("TRUTHSCAN_STORAGE_URL", sandbox.storage_url)
    monkeypatch.setenv("TRUTHSCAN_API_KEY", KEY)
    monkeypatch.setenv("TRUTHSCAN_ALLOWED_DIRS", os.pathsep.join((str(SAMPLES), str(tmp_path))))
    return tmp_path


# --- detect ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("live")
def test_detect_prints_a_readable_report_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "detect", str(AI_PNG))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ai-generated.png: AI Generated")
    assert "TruthScan's reasoning:" in result.stdout
    assert "\n  id " in result.stdout
    assert not result.stdout.lstrip().startswith("{")


@pytest.mark.usefixtures("live")
def test_detect_writes_no_progress_lines_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(capsys, "detect", "--no-deep-analysis", str(CAMERA_JPG), str(AI_PNG))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "camera-photo.jpg" in result.stdout
    assert "ai-generated.png" in result.stdout


@pytest.mark.usefixtures("live")
def test_detect_keeps_info_log_lines_when_the_log_level_is_asked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(capsys, "detect", "--log-level", "INFO", "--no-deep-analysis", str(CAMERA_JPG))
    assert " INFO truthscan_mcp." in result.stderr


def test_detect_json_prints_one_row_per_image_for_scripts(
    capsys: pytest.CaptureFixture[str], live: Path
) -> None:
    result = run_cli(capsys, "detect", "--json", "--no-deep-analysis", str(AI_PNG), str(CAMERA_JPG))
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)["results"]
    assert [r["source"] for r in rows] == [str(AI_PNG), str(CAMERA_JPG)]
    assert [r["verdict"] for r in rows] == ["AI Generated", "Real"]
    assert all(r["complete"] for r in rows)


def test_detect_json_reports_a_failed_image_in_its_row(
    capsys: pytest.CaptureFixture[str], live: Path
) -> None:
    result = run_cli(capsys, "detect", "--json", str(live / "missing.png"))
    (row,) = json.loads(result.stdout)["results"]
    assert "There is no file at" in row["error"]
    assert row["id"] is None


def test_detect_exits_1_when_any_image_fails_but_reports_the_others(
    capsys: pytest.CaptureFixture[str], live: Path, sandbox: SandboxServer
) -> None:
    result = run_cli(capsys, "detect", "--no-deep-analysis", str(CAMERA_JPG), str(live / "missing.png"))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any("camera-photo.jpg" in line and "Real" in line for line in lines), result.stdout
    assert any("missing.png" in line and "error: There is no file at" in line for line in lines), (
        result.stdout
    )
    assert "Traceback" not in result.stderr
    assert sandbox.sandbox.stats.accepted_detects == 1


def test_detect_with_sandbox_flag_labels_the_verdict_simulated(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUTHSCAN_ALLOWED_DIRS", str(SAMPLES))
    result = run_cli(capsys, "--sandbox", "detect", "--no-deep-analysis", str(CAMERA_JPG))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("camera-photo.jpg: Real")
    assert "SIMULATED" in result.stdout


# --- configuration --------------------------------------------------------------------------


def test_invalid_environment_names_the_variable_and_the_option_and_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUTHSCAN_WAIT_SECONDS", "soon")
    result = run_cli(capsys, "detect", str(AI_PNG))
    assert result.returncode == 3
    assert "invalid configuration" in result.stderr
    assert "TRUTHSCAN_WAIT_SECONDS (--wait-seconds)" in result.stderr


def test_invalid_option_names_the_variable_and_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--api-url", "ftp://example.invalid", "detect", str(AI_PNG))
    assert result.returncode == 2
    assert "TRUTHSCAN_API_URL (--api-url)" in result.stderr
    assert "http" in result.stderr


def test_invalid_configuration_does_not_echo_a_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUTHSCAN_API_KEY", "sk-canary-42")
    result = run_cli(capsys, "--max-concurrency", "0", "--http-token", "tok-canary-43", "detect", "x.png")
    assert result.returncode == 2
    assert "TRUTHSCAN_MAX_CONCURRENCY" in result.stderr
    for secret in ("sk-canary-42", "tok-canary-43"):
        assert secret not in result.stderr + result.stdout


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "inspect")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


# --- entry points and the standalone sandbox (real subprocesses) ----------------------------


def test_python_dash_m_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "truthscan_mcp", "--version"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"truthscan-mcp {__version__}")


def test_truthscan_mcp_command_is_installed() -> None:
    script = Path(sys.executable).parent / ("truthscan-mcp.exe" if os.name == "nt" else "truthscan-mcp")
    done = subprocess.run(
        [str(script), "--version"], env=child_env(), capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"truthscan-mcp {__version__}")


@pytest.fixture
def sandbox_command() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "truthscan_mcp", "sandbox", "--port", str(port)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sandbox_command_serves_the_simulator_on_the_given_port(
    sandbox_command: tuple[str, subprocess.Popen[str]],
) -> None:
    base_url, process = sandbox_command
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, "the sandbox command exited"
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


def _sandbox_stderr(*argv: str, **env: str) -> str:
    """Run `truthscan-mcp ARGV...` (the sandbox), ask it three questions, stop it: its stderr."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "truthscan_mcp", *argv, "--port", str(port)],
        env=child_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        for _ in range(3):
            while True:
                assert process.poll() is None, "the sandbox command exited"
                try:
                    assert httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
                    break
                except httpx2.TransportError:
                    assert time.monotonic() < deadline, "the sandbox never answered"
                    time.sleep(0.05)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    return stderr


def test_sandbox_command_logs_each_request_at_the_default_level() -> None:
    stderr = _sandbox_stderr("sandbox")
    assert "listening on" in stderr
    assert stderr.count('"GET /health HTTP/1.1" 200') == 3


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (("sandbox",), {"TRUTHSCAN_LOG_LEVEL": "WARNING"}),
        (("sandbox", "--log-level", "WARNING"), {}),
        (("--log-level", "WARNING", "sandbox"), {}),
    ],
    ids=["variable", "option-after", "option-before"],
)
def test_sandbox_command_at_warning_writes_no_line_per_request(
    argv: tuple[str, ...], env: dict[str, str]
) -> None:
    stderr = _sandbox_stderr(*argv, **env)
    assert "GET /health" not in stderr
    assert "listening on" not in stderr


# --- stopping and start-up lines ----------------------------------------------------------------

_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


class _Lines:
    """A child's pipe read line by line with a time limit, straight from its file descriptor.

    `select` on a buffered text stream misses lines its buffer already holds (the child wrote
    two at once, as it does on a loaded machine), and then waits for a line that came long ago.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._fd = stream.fileno()
        self._buffer = b""

    def next(self, seconds: float) -> str:
        """The next line, or an assertion once `seconds` pass without one."""
        deadline = time.monotonic() + seconds
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no line within {seconds} s"
            chunk = os.read(self._fd, 65536)
            assert chunk, "the child closed its pipe"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode() + "\n"


@contextlib.contextmanager
def _server_process(
    *args: str, stdin: int = subprocess.DEVNULL, stdout: int = subprocess.PIPE
) -> Generator[subprocess.Popen[str]]:
    """`python -m truthscan_mcp *args` with stderr piped, killed on the way out if a failed
    assertion left it running (it would outlive the test run otherwise)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "truthscan_mcp", *args],
        env=child_env(),
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _stopped(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[float, str]:
    """Send `sig`; the seconds the process took to exit (at most 3) and what it wrote on stderr."""
    started = time.monotonic()
    process.send_signal(sig)
    try:
        _, err = process.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"still running 3 s after {sig.name}")
    return time.monotonic() - started, err


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_ends_the_stdio_server_at_once_while_stdin_stays_open(sig: signal.Signals) -> None:
    with _server_process("--sandbox", "--cache-path", "off", stdin=subprocess.PIPE) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(_INITIALIZE) + "\n")
        process.stdin.flush()
        assert json.loads(_Lines(process.stdout).next(60))["id"] == 1  # it is serving
        _, err = _stopped(process, sig)  # stdin is still open: nothing but the signal stops it
    assert process.returncode == 0
    assert "Traceback" not in err


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_ends_the_http_server_at_once_and_its_ipv6_url_is_bracketed(sig: signal.Signals) -> None:
    port = free_port()
    serve = ["serve", "--transport", "http", "--host", "::1", "--port", str(port)]
    with _server_process(*serve, "--sandbox", "--cache-path", "off", stdout=subprocess.DEVNULL) as process:
        assert process.stderr is not None
        stderr = _Lines(process.stderr)
        lines = [stderr.next(60)]
        while "Uvicorn running" not in lines[-1]:
            lines.append(stderr.next(60))
        assert f"serving MCP over streamable HTTP at http://[::1]:{port}/mcp" in "".join(lines)
        _, err = _stopped(process, sig)
    assert process.returncode == 0
    assert "Traceback" not in err


def test_every_option_of_every_command_has_help_text() -> None:
    """`truthscan-mcp --help`, `serve --help`, `detect --help`, … explain every option."""
    import argparse

    from truthscan_mcp.cli.main import build_parser

    parser = build_parser()
    parsers: dict[str, argparse.ArgumentParser] = {"truthscan-mcp": parser}
    for action in parser._actions:  # pyright: ignore[reportPrivateUsage]
        choices: object = action.choices
        if isinstance(choices, dict):
            parsers.update(cast("dict[str, argparse.ArgumentParser]", choices))
    assert {"serve", "detect", "demo", "cache", "sandbox", "report", "trust"} <= set(parsers)
    silent = [
        f"{name} {action.dest}"
        for name, each in parsers.items()
        for action in each._actions  # pyright: ignore[reportPrivateUsage]
        if not action.help
    ]
    assert silent == []


@pytest.mark.anyio
async def test_the_demo_calls_every_tool_the_model_is_offered() -> None:
    done = await run_cli_process("demo")
    assert done.returncode == 0, done.stderr
    offered = re.search(r"^Tools: (.+)$", done.stdout, re.MULTILINE)
    assert offered is not None, done.stdout
    called = set(re.findall(r"^> (\w+)\(", done.stdout, re.MULTILINE))
    assert set(offered.group(1).split(", ")) <= called
    # the hand-over: the sample dropped on the upload page, then detected from it
    assert "HTTP 200" in done.stdout
    assert re.search(
        r'^    Verdict for "camera-photo\.jpg"', done.stdout.split("> detect_image(upload=")[1], re.M
    )
    assert "Traceback" not in done.stderr
