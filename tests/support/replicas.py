"""Replicas: `truthscan-mcp serve --transport http --stateless` processes, as a team runs them.

Each replica is a real subprocess on its own loopback port, with its stderr in a file (read it
in an assertion message when something goes wrong); the caller decides their environment
(the sandbox they call, the store they share).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Generator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port


@dataclass
class Replica:
    """One server process: its `/mcp` URL, the process, its stderr log."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp"

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: a machine lost mid-request, no clean-up of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port}: {log.read_text(errors='replace')}")


@contextmanager
def replica(
    env: Mapping[str, str], log_dir: Path, *extra: str, port: int | None = None
) -> Generator[Replica]:
    """One `serve --transport http --stateless` process on a free loopback port (or `port`: a
    server that must know its URL first, as an OAuth resource names itself)."""
    port = port or free_port()
    log = log_dir / f"replica-{port}.log"
    command = [sys.executable, "-m", "truthscan_mcp", "serve", "--transport", "http", "--stateless"]
    command += ["--port", str(port), *extra]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=dict(env), stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for_port(port, process, log)
        yield Replica(port, process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def replicas(count: int, env: Mapping[str, str], log_dir: Path, *extra: str) -> Generator[list[Replica]]:
    """`count` replicas with the same environment (started one after another)."""
    with ExitStack() as stack:
        yield [stack.enter_context(replica(env, log_dir, *extra)) for _ in range(count)]
