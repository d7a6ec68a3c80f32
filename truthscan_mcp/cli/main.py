"""The `truthscan-mcp` command: serve (default), detect, report, trust, cache, demo, sandbox.

Heavy imports (the MCP SDK, the HTTP stack, rich) happen inside the commands that need them:
`detect` must start without the SDK, and a desktop app spawns the server on every launch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from truthscan_mcp import __version__
from truthscan_mcp.cli.options import add_setting_options, settings_from, split_global_lists

__all__ = ["build_parser", "main", "settings_from"]

COMMANDS = ("serve", "detect", "report", "trust", "cache", "demo", "sandbox")

EXIT_CODES = """\
exit status:
  0    every image answered
  1    some image failed or was not finished
  2    usage: a wrong option or argument
  3    configuration or key: a bad TRUTHSCAN_* value, no key, a key TruthScan refuses
  4    --fail-on TIER: some image reached that tier or above
  130  interrupted (Ctrl-C): the rows known so far are printed, each paid detection with its id
"""

_MAIN_EPILOG = """\
examples:
  truthscan-mcp                               serve MCP over stdio (what desktop apps run)
  truthscan-mcp --sandbox detect photo.jpg    try detection on the simulator (no key)
  truthscan-mcp detect ~/Pictures/batch --format csv > verdicts.csv
  truthscan-mcp serve --transport http --port 8000

Configuration options go before or after the command; `truthscan-mcp COMMAND --help` lists
the ones each command uses.
"""

_DETECT_EPILOG = (
    """\
examples:
  truthscan-mcp detect photo.jpg                    one image: the full report
  truthscan-mcp detect ~/Pictures/inbox             a folder: one parallel run, a table of every image
  truthscan-mcp detect a.jpg https://example.com/b.png shots/ --recursive
  curl -s https://example.com/c.webp | truthscan-mcp detect -
  truthscan-mcp detect inbox/ --format jsonl | jq -c 'select(.tier == "Synthetic")'
  truthscan-mcp detect uploads/ --fail-on likely-synthetic --format json > verdicts.json
  truthscan-mcp detect inbox/ --report ~/cases/42     an evidence report per image, and an index

Files in a folder are recognised by their content, not their name; every file left out is
listed on stderr with the reason. Progress and notes go to stderr, results to stdout. Colour
only on a terminal, never with NO_COLOR set.

"""
    + EXIT_CODES
)


class _Parser(argparse.ArgumentParser):
    """Takes `--allowed-dirs A B` before a command without swallowing the command."""

    def parse_known_args(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace | None, list[str]]:
        if self.prog == "truthscan-mcp":
            args = split_global_lists(sys.argv[1:] if args is None else list(args), COMMANDS)
        return super().parse_known_args(args, namespace)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 3600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="truthscan-mcp",
        description="MCP server for TruthScan AI image detection. Without a command, serves MCP over stdio.",
        epilog=_MAIN_EPILOG + "\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"truthscan-mcp {__version__}")
    add_setting_options(parser, None)
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", help="what to do (default: serve over stdio)"
    )

    def add(name: str, help_text: str, epilog: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_setting_options(p, name)
        return p

    _add_serve(add)
    from truthscan_mcp.cli.detect_options import add_detect_options

    add_detect_options(add("detect", "detect AI-generated images from the terminal", _DETECT_EPILOG))
    add(
        "demo",
        "run a real MCP client session against this server (sandbox unless a key is set)",
        "example:\n  truthscan-mcp demo",
    )
    _add_report(add)
    _add_trust(add)
    _add_cache(add)
    _add_sandbox(add)
    return parser


def _add_report(add: _Add) -> None:
    report: argparse.ArgumentParser = add(
        "report",
        "write evidence reports (HTML + JSON) for detections already answered, by id",
        "examples:\n  truthscan-mcp report 77565038-9e3d-4e6a-8c80-e20785be5ee9\n"
        "  truthscan-mcp report ID1 ID2 --out ~/cases/42\n\n"
        "The ids come from `truthscan-mcp detect` (or get_result) on this machine: their results and\n"
        "custody are read from the result cache (TRUTHSCAN_CACHE_PATH).",
    )
    report.add_argument(
        "ids", nargs="+", metavar="ID", help="TruthScan document ids (as `detect` prints them)"
    )
    report.add_argument(
        "--out", metavar="DIR", default=None, help="folder for the reports (default: --reports-dir)"
    )


def _add_trust(add: _Add) -> None:
    trust: argparse.ArgumentParser = add(
        "trust",
        "show or update the C2PA trust list that judges Content Credentials signers",
        "examples:\n  truthscan-mcp trust show\n"
        "  truthscan-mcp trust update --from C2PA-TRUST-LIST.pem --date 2026-12-01\n"
        "  truthscan-mcp trust update     (downloads the C2PA's published list)",
    )
    trust.add_argument(
        "trust_action",
        choices=["show", "update"],
        metavar="{show,update}",
        help="show: the list in use; update: install a newer list (from --from FILE, or downloaded)",
    )
    trust.add_argument(
        "--from", dest="from_file", metavar="FILE", help="a C2PA-TRUST-LIST.pem you downloaded"
    )
    trust.add_argument(
        "--url", default=None, metavar="URL", help="where to download it from (default: the C2PA's copy)"
    )
    trust.add_argument(
        "--date", default=None, metavar="YYYY-MM-DD", help="the day the list was published (default: today)"
    )


#: the `add` helper of build_parser: a command's parser, with the settings it uses
_Add = Callable[[str, str, str | None], argparse.ArgumentParser]


def _add_serve(add: _Add) -> None:
    serve: argparse.ArgumentParser = add(
        "serve",
        "serve MCP (stdio by default, or streamable HTTP)",
        "examples:\n  truthscan-mcp serve\n"
        "  truthscan-mcp serve --transport http --host 127.0.0.1 --port 8000",
    )
    serve.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio (what desktop apps spawn; default) or streamable HTTP at /mcp",
    )
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="HTTP port, 1-65535 (default 8000)")
    serve.add_argument(
        "--stateless",
        action="store_true",
        help="one of several replicas: no session between requests (share results: TRUTHSCAN_CACHE_URL)",
    )


def _add_cache(add: _Add) -> None:
    cache: argparse.ArgumentParser = add(
        "cache",
        "show or clear the local result cache (TRUTHSCAN_CACHE_PATH)",
        "examples:\n  truthscan-mcp cache stats\n  truthscan-mcp cache stats --json",
    )
    cache.add_argument(
        "cache_action",
        choices=["stats", "clear"],
        metavar="{stats,clear}",
        help="stats: what it holds; clear: remove every stored result and the history (asks nothing)",
    )
    cache.add_argument("--json", action="store_true", help="print the answer as JSON (for scripts)")


def _add_sandbox(add: _Add) -> None:
    sandbox: argparse.ArgumentParser = add(
        "sandbox",
        "run the TruthScan API simulator as a standalone HTTP server",
        "example:\n  truthscan-mcp sandbox --port 8787 --processing-seconds 0.5",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sandbox.add_argument("--port", type=_port, default=8787, help="port, 1-65535 (default 8787)")
    sandbox.add_argument(
        "--processing-seconds", type=_seconds, default=None, metavar="S", help="simulated time to a verdict"
    )
    sandbox.add_argument(
        "--analysis-seconds",
        type=_seconds,
        default=None,
        metavar="S",
        help="simulated time to the deep analysis",
    )
    sandbox.add_argument(
        "--heatmap-seconds", type=_seconds, default=None, metavar="S", help="simulated time to the heatmap"
    )
    for phase in ("processing", "analysis", "heatmap"):
        sandbox.add_argument(
            f"--{phase}-seconds-max",
            type=_seconds,
            default=None,
            metavar="S",
            help=f"draw each document's {phase} time between --{phase}-seconds and this (seeded)",
        )
    sandbox.add_argument("--seed", type=int, default=None, help="seed of the drawn timings and faults")


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
    if command == "trust":
        from truthscan_mcp.cli.trust import PUBLISHED_URL, run_trust

        args.url = args.url or PUBLISHED_URL
        raise SystemExit(run_trust(args))
    settings = settings_from(args)
    from truthscan_mcp.logs import configure_logging

    secrets = [
        s.get_secret_value()
        for s in (settings.api_key, settings.http_token, settings.cache_url)
        if s is not None
    ]
    level = settings.log_level
    if command == "detect" and "log_level" not in settings.model_fields_set:
        # the live line owns the terminal; INFO log lines would break into it
        level = "WARNING"
    configure_logging(level, secrets)
    if command == "sandbox":  # after the logging: its level decides the line per request
        _run_sandbox(args)
    elif command == "serve":
        _exit_on_signals()
        from truthscan_mcp.adapter.transports import serve

        serve(
            settings,
            transport=getattr(args, "transport", "stdio"),
            host=getattr(args, "host", "127.0.0.1"),
            port=getattr(args, "port", 8000),
            stateless=getattr(args, "stateless", False),
        )
    elif command == "detect":
        from truthscan_mcp.cli.detect import run_detect

        raise SystemExit(run_detect(settings, args))
    elif command == "report":
        from truthscan_mcp.cli.report import run_report

        raise SystemExit(run_report(settings, args))
    elif command == "cache":
        from truthscan_mcp.cli.cache import run_cache_command, run_shared_cache_command

        if settings.cache_url is not None:
            url = settings.cache_url.get_secret_value()
            raise SystemExit(run_shared_cache_command(url, args.cache_action, as_json=args.json))
        raise SystemExit(run_cache_command(settings.cache_path, args.cache_action, as_json=args.json))
    else:  # pragma: no cover - argparse rejects unknown commands
        parser.error(f"unknown command {command}")


def _run_sandbox(args: argparse.Namespace) -> None:
    from truthscan_mcp.sandbox import SandboxConfig
    from truthscan_mcp.sandbox import serve as serve_sandbox

    updates = {
        k: v
        for k, v in (
            ("processing_seconds", args.processing_seconds),
            ("analysis_seconds", args.analysis_seconds),
            ("heatmap_seconds", args.heatmap_seconds),
            ("processing_seconds_max", args.processing_seconds_max),
            ("analysis_seconds_max", args.analysis_seconds_max),
            ("heatmap_seconds_max", args.heatmap_seconds_max),
            ("seed", args.seed),
        )
        if v is not None
    }
    from pydantic import ValidationError

    try:
        config = SandboxConfig(**updates)
    except ValidationError as exc:
        problems = "; ".join(str(error["msg"]) for error in exc.errors())
        sys.stderr.write(f"truthscan-mcp sandbox: invalid timings: {problems}\n")
        raise SystemExit(2) from None
    serve_sandbox(host=args.host, port=args.port, config=config)
