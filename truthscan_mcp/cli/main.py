"""The `truthscan-mcp` command: serve (default), detect, demo, sandbox.

argparse (stdlib) rather than a CLI framework: start-up time matters for a process that desktop
apps spawn on every launch, and the command surface is small. Heavy imports (the MCP SDK, the
HTTP stack) happen inside the sub-commands that need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from truthscan_mcp import __version__

if TYPE_CHECKING:
    from truthscan_mcp.settings import Settings

# option → Settings field; every TRUTHSCAN_* variable is also a command-line option
_SETTING_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "--sandbox",
        "sandbox",
        {"action": "store_true", "help": "use the built-in API simulator: no key, no credits, no network"},
    ),
    (
        "--api-key",
        "api_key",
        {"metavar": "KEY", "help": "TruthScan API key (prefer TRUTHSCAN_API_KEY: options show in ps)"},
    ),
    (
        "--api-url",
        "api_url",
        {"metavar": "URL", "help": "TruthScan API base URL (default https://detect-image.truthscan.com)"},
    ),
    ("--storage-url", "storage_url", {"metavar": "URL", "help": "storage base URL sent to /detect"}),
    (
        "--wait-seconds",
        "wait_seconds",
        {"type": float, "metavar": "S", "help": "default wait for a complete result, 0-600 (default 45)"},
    ),
    (
        "--allowed-dirs",
        "allowed_dirs",
        {
            "nargs": "+",
            "metavar": "DIR",
            "help": (
                "directories local image paths must be inside (default: your home and the temp dir); "
                f"one or more, each may be {os.pathsep}-separated; before IMAGE arguments write "
                "--allowed-dirs=DIR"
            ),
        },
    ),
    (
        "--allow-private-urls",
        "allow_private_urls",
        {"action": "store_true", "help": "allow URL sources on private/loopback addresses"},
    ),
    (
        "--cache-path",
        "cache_path",
        {"metavar": "FILE", "help": "result cache file (SQLite), or 'off' to keep nothing"},
    ),
    (
        "--log-level",
        "log_level",
        {"metavar": "LEVEL", "help": "DEBUG, INFO, WARNING or ERROR (default INFO; detect: WARNING)"},
    ),
    (
        "--http-token",
        "http_token",
        {"metavar": "TOKEN", "help": "bearer token for the HTTP transport (32+ characters)"},
    ),
    (
        "--http-allowed-origins",
        "http_allowed_origins",
        {"metavar": "ORIGINS", "help": "browser Origins the HTTP transport answers (comma-separated)"},
    ),
    (
        "--max-concurrency",
        "max_concurrency",
        {"type": int, "metavar": "N", "help": "parallel detections in a batch, 1-32 (default 4)"},
    ),
]


def _add_setting_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    group = parser.add_argument_group("configuration (each also a TRUTHSCAN_* variable)")
    for flag, dest, kwargs in _SETTING_OPTIONS:
        extra = dict(kwargs)
        if suppress:
            extra["default"] = argparse.SUPPRESS
        group.add_argument(flag, dest=dest, **extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="truthscan-mcp",
        description="MCP server for TruthScan AI image detection. Without a command, serves MCP over stdio.",
    )
    parser.add_argument("--version", action="version", version=f"truthscan-mcp {__version__}")
    _add_setting_options(parser, suppress=False)
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", help="what to do (default: serve over stdio)"
    )

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_setting_options(p, suppress=True)
        return p

    serve = add("serve", "serve MCP (stdio by default, or streamable HTTP)")
    serve.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio (what desktop apps spawn; default) or streamable HTTP at /mcp",
    )
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")

    detect = add("detect", "detect AI-generated images from the terminal")
    detect.add_argument(
        "images", nargs="+", metavar="IMAGE", help="file path, file:// or http(s) URL, or a directory"
    )
    detect.add_argument("--recursive", "-r", action="store_true", help="look into subdirectories too")
    detect.add_argument("--pattern", default=None, metavar="GLOB", help="glob for directories, e.g. '*.jpg'")
    detect.add_argument(
        "--allow-partial", action="store_true", help="if credits do not cover a batch, detect what they cover"
    )
    detect.add_argument("--json", action="store_true", help="print the reports as JSON (for scripts)")
    detect.add_argument("--no-deep-analysis", action="store_true", help="skip the deep-analysis reasoning")
    detect.add_argument(
        "--wait", type=float, default=None, metavar="S", help="seconds to wait (default --wait-seconds, 45)"
    )
    detect.add_argument("--force", action="store_true", help="bypass the cache and spend credits again")
    detect.add_argument("--heatmap", action="store_true", help="wait for the heatmap too")

    add("demo", "run a real MCP client session against this server (sandbox unless a key is set)")

    cache = add("cache", "show or clear the local result cache (TRUTHSCAN_CACHE_PATH)")
    cache.add_argument(
        "cache_action",
        choices=["stats", "clear"],
        metavar="{stats,clear}",
        help="stats: what it holds; clear: remove every stored result and the history (asks nothing)",
    )
    cache.add_argument("--json", action="store_true", help="print the answer as JSON (for scripts)")

    sandbox = add("sandbox", "run the TruthScan API simulator as a standalone HTTP server")
    sandbox.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8787, help="port (default 8787)")
    sandbox.add_argument(
        "--processing-seconds", type=float, default=None, metavar="S", help="simulated time to a verdict"
    )
    sandbox.add_argument(
        "--analysis-seconds",
        type=float,
        default=None,
        metavar="S",
        help="simulated time to the deep analysis",
    )
    sandbox.add_argument(
        "--heatmap-seconds", type=float, default=None, metavar="S", help="simulated time to the heatmap"
    )
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first, command-line options on top; a bad value exits with its name."""
    from pydantic import ValidationError

    from truthscan_mcp.settings import Settings

    overrides: dict[str, Any] = {}
    given: set[str] = set()
    for _flag, dest, kwargs in _SETTING_OPTIONS:
        value = getattr(args, dest, None)
        if value is None or (kwargs.get("action") == "store_true" and value is False):
            continue
        given.add(dest)  # hints about this setting then name its option, not the variable
        if dest == "allowed_dirs" and isinstance(value, list):
            # a host passes one argument per folder the user chose (MCPB `multiple` directories)
            folders: list[str] = [str(v) for v in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            value = os.pathsep.join(folders)
        overrides[dest] = value
    try:
        return Settings(**overrides).given_on_command_line(given)
    except ValidationError as exc:
        lines: list[str] = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            lines.append(f"  TRUTHSCAN_{field.upper()} (--{field.replace('_', '-')}): {error['msg']}")
        sys.stderr.write("truthscan-mcp: invalid configuration:\n" + "\n".join(lines) + "\n")
        raise SystemExit(2) from None


def _exit_on_signals() -> None:
    """SIGINT and SIGTERM end the server at once, with status 0 and no traceback.

    On stdio the SDK reads stdin in a worker thread that nothing can interrupt: letting
    KeyboardInterrupt unwind would print a traceback and then hang until stdin closes, and a
    host stopping its server must not wait on that. Nothing is lost by leaving at once: every
    cache write is an SQLite transaction, and stdout carries only whole JSON-RPC messages.
    (uvicorn catches both signals while it serves HTTP, shuts down gracefully, then raises
    them again, which lands here.)
    """
    import logging
    import signal
    from types import FrameType

    def stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("truthscan_mcp").info("stopping on %s", signal.Signals(signum).name)
        sys.stderr.flush()
        os._exit(0)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "serve"
    if command == "demo":
        from truthscan_mcp.cli.demo import run_demo

        raise SystemExit(run_demo(args))
    settings = settings_from(args)
    from truthscan_mcp.logs import configure_logging

    secrets = [s.get_secret_value() for s in (settings.api_key, settings.http_token) if s is not None]
    level = settings.log_level
    if command == "detect" and "log_level" not in settings.model_fields_set:
        # progress lines own the terminal; INFO log lines would interleave with them
        level = "WARNING"
    configure_logging(level, secrets)
    if command == "serve":
        _exit_on_signals()
        from truthscan_mcp.adapter.transports import serve

        serve(
            settings,
            transport=getattr(args, "transport", "stdio"),
            host=getattr(args, "host", "127.0.0.1"),
            port=getattr(args, "port", 8000),
        )
    elif command == "detect":
        from truthscan_mcp.cli.detect import run_detect

        raise SystemExit(run_detect(settings, args))
    elif command == "cache":
        from truthscan_mcp.cli.cache import run_cache_command

        raise SystemExit(run_cache_command(settings.cache_path, args.cache_action, as_json=args.json))
    elif command == "sandbox":
        from truthscan_mcp.sandbox import SandboxConfig
        from truthscan_mcp.sandbox import serve as serve_sandbox

        updates = {
            k: v
            for k, v in (
                ("processing_seconds", args.processing_seconds),
                ("analysis_seconds", args.analysis_seconds),
                ("heatmap_seconds", args.heatmap_seconds),
            )
            if v is not None
        }
        serve_sandbox(host=args.host, port=args.port, config=SandboxConfig(**updates))
    else:  # pragma: no cover - argparse rejects unknown commands
        parser.error(f"unknown command {command}")
