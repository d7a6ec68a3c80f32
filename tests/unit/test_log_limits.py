"""Log lines a client can provoke at will are rate-limited, so no client decides how fast stderr grows."""

from __future__ import annotations

import logging

from truthscan_mcp.logs import RepeatLimiter, limit_repeats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _accept_error(fd: int) -> logging.LogRecord:
    """What asyncio logs when accept() runs out of descriptors: a different socket every time."""
    message = f"socket.accept() out of system resource\nsocket: <asyncio.TransportSocket fd={fd}>"
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)


def _passed(limiter: RepeatLimiter, record: logging.LogRecord, kept: Kept) -> None:
    if limiter.filter(record):
        kept.emit(record)


def test_a_flood_of_accept_errors_shows_one_line_per_interval_with_the_count_held_back() -> None:
    clock, kept = Clock(), Kept()
    limiter = RepeatLimiter(interval=10.0, clock=clock)
    for i in range(30_000):  # ten seconds of what asyncio logged: ~3,000 a second
        clock.now = i / 3000
        _passed(limiter, _accept_error(i), kept)
    clock.now = 10.5
    _passed(limiter, _accept_error(0), kept)
    assert len(kept.lines) == 2
    assert kept.lines[0].startswith("socket.accept() out of system resource")
    assert "29999 more like it in the last 10 s not shown" in kept.lines[1]


def test_different_messages_are_limited_separately() -> None:
    clock, kept = Clock(), Kept()
    limiter = RepeatLimiter(interval=10.0, clock=clock)
    for text in ("Invalid HTTP request received.", "Exceeded concurrency limit.") * 100:
        _passed(
            limiter, logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, text, None, None), kept
        )
    assert kept.lines == ["Invalid HTTP request received.", "Exceeded concurrency limit."]


def test_limit_repeats_installs_one_limiter_however_often_it_is_called() -> None:
    logger = logging.getLogger("truthscan-test-repeats")
    limit_repeats(logger.name)
    limit_repeats(logger.name)
    assert sum(isinstance(f, RepeatLimiter) for f in logger.filters) == 1
