"""Logging to stderr only, with secrets scrubbed from every record.

stdout belongs to the stdio transport: one stray line there corrupts the JSON-RPC stream. The
redaction filter is a second line of defence: no code path logs the key on purpose, but a
third-party library logging a request at DEBUG must not leak it either.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

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


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send everything to stderr through one handler; idempotent (reconfigures in place)."""
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
