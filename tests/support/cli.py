"""Running the `truthscan-mcp` command: in this process (fast, same code a shell runs minus the
interpreter start-up) or as a real subprocess (entry points, process exit codes)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import anyio
import pytest

from tests.support.settings import child_env
from truthscan_mcp.cli import main as cli


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Run the command as `truthscan-mcp ARGV...` in this process: its exit status and output."""
    code: int | str | None = 0
    try:
        cli.main(list(argv))
    except SystemExit as exited:
        code = exited.code
    captured = capsys.readouterr()
    if isinstance(code, str):  # SystemExit("message"): Python prints it to stderr and exits 1
        return Run(1, captured.out, captured.err + code)
    return Run(code or 0, captured.out, captured.err)


async def run_cli_process(*argv: str, **env: str) -> Run:
    """Run `python -m truthscan_mcp ARGV...` as a subprocess with a clean environment."""
    done = await anyio.run_process(
        [sys.executable, "-m", "truthscan_mcp", *argv], env=child_env(**env), check=False
    )
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())
