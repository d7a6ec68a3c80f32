"""Watching a server subprocess's memory: a ceiling on its address space, its peak RSS.

Shared by the tiers that prove memory stays bounded (a huge API answer, an image bomb): the
server is started under `RLIMIT_AS`, so a regression fails with a `MemoryError` inside it
instead of taking the shared machine down, and its resident memory is sampled from outside.
"""

from __future__ import annotations

import os
import threading
import time

import psutil

#: The default ceiling: far above a healthy server, far below what a machine can lose.
ADDRESS_SPACE_LIMIT = 3 * 1024 * 1024 * 1024


def limited_server_command(limit: int = ADDRESS_SPACE_LIMIT, *args: str) -> list[str]:
    """`python` arguments that start `truthscan-mcp serve` (stdio) with at most `limit` bytes
    of address space (POSIX; `resource` has no such limit elsewhere)."""
    code = (
        "import resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
        f"from truthscan_mcp.cli.main import main; main(['serve', *{list(args)!r}])"
    )
    return ["-c", code]


class PeakRss:
    """Polls a process's resident memory every 10 ms from a thread and keeps the maximum."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.01)

    def stop(self) -> int:
        """The growth over the baseline, in bytes."""
        self._stop.set()
        self._thread.join(2)
        return self.peak - self.baseline


def server_child() -> psutil.Process:
    """This test process's newest `truthscan-mcp` child (the stdio server a `Client` started
    last: `python -m truthscan_mcp …` or the limited command above)."""
    me = psutil.Process(os.getpid())
    found: list[psutil.Process] = []
    for child in me.children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "-m truthscan_mcp" in command or "truthscan_mcp.cli.main" in command:
            found.append(child)
    assert found, "the server subprocess was not found"
    return max(found, key=lambda child: child.create_time())
