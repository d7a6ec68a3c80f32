"""Logging to stderr only, with secrets scrubbed from every record.

stdout belongs to the stdio transport: one stray line there corrupts the JSON-RPC stream. The
redaction filter is a second line of defence: no code path logs the key on purpose, but a
third-party library logging a request at DEBUG must not leak it either.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable

import stamina.instrumentation
from stamina.instrumentation import RetryDetails

from truthscan_mcp.redaction import MIN_SECRET_LENGTH, redact

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "truthscan-mcp-stderr"


class RedactingFilter(logging.Filter):
    """Masks `secrets` in every record's message and traceback, in every form `redact` knows."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        masked = redact(message, self._secrets)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            masked = redact(text, self._secrets)
            if masked != text:
                record.exc_info = None
                record.exc_text = masked
        return True


class RepeatLimiter(logging.Filter):
    """Lets the first record of a kind through, then at most one every `interval` seconds, which
    says how many like it were held back.

    A kind is the logger, the level and the first line of the message: asyncio, out of
    descriptors, logs "socket.accept() out of system resource" (each with a different socket in
    the lines below) thousands of times a second, and uvicorn logs every malformed request a
    client chooses to send. Without a limit, a client decides how fast stderr fills the disk.
    """

    #: How many kinds are remembered; the oldest is forgotten beyond it.
    MAX_KINDS = 256

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg).partition("\n")[0][:200])
        now = self._clock()
        shown, held = self._kinds.get(kind, (None, 0))
        if shown is not None and now - shown < self._interval:
            self._kinds[kind] = (shown, held + 1)
            return False
        if held and shown is not None:
            record.msg = (
                f"{record.getMessage()}\n({held} more like it in the last {now - shown:.0f} s not shown)"
            )
            record.args = None
        self._kinds.pop(kind, None)
        self._kinds[kind] = (now, 0)
        if len(self._kinds) > self.MAX_KINDS:
            del self._kinds[next(iter(self._kinds))]
        return True


def limit_repeats(*loggers: str, interval: float = 10.0) -> None:
    """Put one `RepeatLimiter` on each named logger (once, however often this is called)."""
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatLimiter) for f in logger.filters):
            logger.addFilter(RepeatLimiter(interval))


def log_retry(details: RetryDetails) -> None:
    """stamina's instrumentation hook: one line per scheduled retry, on the same stderr (the
    retry loops name their context after the call, e.g. "TruthScan query")."""
    logging.getLogger("truthscan_mcp.retries").info(
        "retrying %s (retry %d in %.2fs) after %s",
        details.name,
        details.retry_num,
        details.wait_for,
        type(details.caused_by).__name__,
    )


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send everything to stderr through one handler; idempotent (reconfigures in place).
    Retries are reported through stamina's instrumentation, by `log_retry`."""
    stamina.instrumentation.set_on_retry_hooks([log_retry])
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactingFilter(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    # Request lines from the HTTP stack are noise at INFO; keep them for DEBUG.
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore", "mcp.server.lowlevel.server"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
