"""Running the installed `truthscan-mcp` as a person does: in a pseudo-terminal, or piped.

The command decides from `isatty()` whether to draw its live line and colours, so the only
honest test of what a person sees is a real pseudo-terminal: the child gets it as stdin, stdout,
stderr and controlling terminal, so a Ctrl-C typed into it (byte 0x03) reaches the child as
SIGINT through the terminal driver, exactly as at a keyboard.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

#: the command as installed in this environment (the venv's bin), not `python -m`
COMMAND = str(Path(sys.executable).parent / "truthscan-mcp")
#: CSI and OSC sequences: what a terminal interprets instead of showing
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]")
#: a colour or style set by SGR (`ESC [ … m`) with a colour parameter
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[25])[0-9;]*m")


def plain(text: str) -> str:
    """What a person reads: escape sequences removed, carriage returns kept as line starts."""
    return ANSI.sub("", text)


@dataclass
class PtyRun:
    """A child on a pseudo-terminal and what it wrote there, with when each chunk came."""

    process: subprocess.Popen[bytes]
    master: int
    output: bytearray = field(default_factory=bytearray)
    chunks: list[tuple[float, bytes]] = field(default_factory=list[tuple[float, bytes]])

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def read_until(self, done: Callable[[str], bool], timeout: float) -> str:
        """Read until `done(text so far)` or the child closes the terminal; the text so far."""
        deadline = time.monotonic() + timeout
        while not done(self.text):
            left = deadline - time.monotonic()
            assert left > 0, f"not seen within {timeout} s; the terminal shows:\n{plain(self.text)[-3000:]}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the child closed its side
                chunk = b""
            if not chunk:
                break
            self.chunks.append((time.monotonic(), chunk))
            self.output += chunk
        return self.text

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self, timeout: float) -> int:
        """Read to the end; the exit status."""
        self.read_until(lambda _: False, timeout) if self.process.poll() is None else None
        with contextlib.suppress(AssertionError):
            self.read_until(lambda _: False, 0.5)
        return self.process.wait(timeout=timeout)


def _controlling_terminal() -> None:  # pragma: no cover - runs in the child
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@contextlib.contextmanager
def in_terminal(*args: str, env: dict[str, str], columns: int = 160, rows: int = 50) -> Generator[PtyRun]:
    """`truthscan-mcp ARGS` on a fresh pseudo-terminal of `columns` × `rows`; killed on the way out.
    POSIX only (the modules are imported here, so Windows can still import this file and skip)."""
    import fcntl
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
    process = subprocess.Popen(
        [COMMAND, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        preexec_fn=_controlling_terminal,
    )
    os.close(slave)
    run = PtyRun(process, master)
    try:
        yield run
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(master)


def run_piped(
    *args: str, env: dict[str, str], stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`truthscan-mcp ARGS` with stdout and stderr piped, as a script or CI runs it."""
    done = subprocess.run(
        [COMMAND, *args],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )
