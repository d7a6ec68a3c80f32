"""The configuration options every command shares, and where on the command line they may go.

Each `TRUTHSCAN_*` variable is also an option. They are accepted before the command (as `gh`,
`uv` and `ruff` accept theirs) and after it, but each command lists and takes only the ones it
uses: `cache --help` does not offer an HTTP token. Stdlib argparse (not a CLI framework): start-up
time matters for a process that desktop apps spawn on every launch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from truthscan_mcp.settings import Settings

#: option → Settings field; every TRUTHSCAN_* variable is also a command-line option
SETTING_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
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
        {"type": float, "metavar": "S", "help": "how long to wait for a complete result, 0-600 (default 45)"},
    ),
    (
        "--allowed-dirs",
        "allowed_dirs",
        {
            "action": "extend",
            "nargs": "+",
            "metavar": "DIR",
            "help": (
                "folders local images must be inside (default: your home and the temp dir); "
                f"each may be {os.pathsep}-separated"
            ),
        },
    ),
    (
        "--allow-private-urls",
        "allow_private_urls",
        {"action": "store_true", "help": "allow image URLs on private/loopback addresses"},
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
        "--reports-dir",
        "reports_dir",
        {"metavar": "DIR", "help": "where evidence reports go (default: 'TruthScan reports' in Documents)"},
    ),
    (
        "--cache-url",
        "cache_url",
        {"metavar": "URL", "help": "postgresql://… shared store of a team deployment (prefer the variable)"},
    ),
    (
        "--oauth-issuer",
        "oauth_issuer",
        {"metavar": "URL", "help": "OAuth 2.1 authorization server whose tokens the HTTP transport accepts"},
    ),
    (
        "--oauth-audience",
        "oauth_audience",
        {"metavar": "URL", "help": "this server's resource URL (e.g. https://host/mcp); tokens must name it"},
    ),
    (
        "--oauth-jwks-url",
        "oauth_jwks_url",
        {"metavar": "URL", "help": "the issuer's JWKS (default: from its metadata)"},
    ),
    (
        "--oauth-scopes",
        "oauth_scopes",
        {"metavar": "SCOPES", "help": "scopes a token must carry, space-separated (default truthscan)"},
    ),
    (
        "--per-user",
        "per_user",
        {"action": "store_true", "help": "keep the daily cap and the history per OAuth user (token's sub)"},
    ),
    (
        "--max-concurrency",
        "max_concurrency",
        {"type": int, "metavar": "N", "help": "parallel uploads and submissions, 1-32 (default 4)"},
    ),
    (
        "--max-detections-per-day",
        "max_detections_per_day",
        {
            "type": int,
            "metavar": "N",
            "help": "paid detections allowed per UTC day, across every server sharing the cache "
            "(default: no cap)",
        },
    ),
    (
        "--confirm-above",
        "confirm_above",
        {
            "type": int,
            "metavar": "N",
            "help": "a batch paying for more detections asks the person first, where the client can "
            "(default 5)",
        },
    ),
]

#: The settings each command uses (and so lists in its --help); `serve` and the bare command
#: take every one. A setting added to SETTING_OPTIONS is a server setting until listed here.
COMMAND_SETTINGS: dict[str, frozenset[str]] = {
    "detect": frozenset(
        {
            "sandbox",
            "api_key",
            "api_url",
            "storage_url",
            "wait_seconds",
            "allowed_dirs",
            "allow_private_urls",
            "cache_path",
            "log_level",
            "max_concurrency",
            "reports_dir",
            "max_detections_per_day",
        }
    ),
    # evidence reports for detections already answered: the cache, the API (for the heatmap)
    "report": frozenset(
        {
            "sandbox",
            "wait_seconds",
            "api_key",
            "api_url",
            "storage_url",
            "allowed_dirs",
            "allow_private_urls",
            "cache_path",
            "log_level",
            "reports_dir",
        }
    ),
    "trust": frozenset(),
    "cache": frozenset({"cache_path", "cache_url"}),
    "demo": frozenset({"sandbox"}),
    "sandbox": frozenset({"log_level"}),
}


def add_setting_options(parser: argparse.ArgumentParser, command: str | None) -> None:
    """The configuration options `command` uses (all of them for the server and the bare command).

    After a command they default to SUPPRESS, so a value given before the command stays; and
    `--allowed-dirs` takes one folder per use there (repeat it), because the command's own
    positional arguments follow and a greedy list would swallow them.
    """
    used = COMMAND_SETTINGS.get(command or "serve")
    group = parser.add_argument_group("configuration (each also a TRUTHSCAN_* variable)")
    for flag, dest, kwargs in SETTING_OPTIONS:
        if used is not None and dest not in used:
            continue
        extra = dict(kwargs)
        if command is not None:
            extra["default"] = argparse.SUPPRESS
            if dest == "allowed_dirs" and command != "serve":
                extra["nargs"] = 1
                extra["help"] = str(extra["help"]) + "; repeat it for several folders"
        flags = [flag, "--wait"] if command == "detect" and dest == "wait_seconds" else [flag]
        group.add_argument(*flags, dest=dest, **extra)


def split_global_lists(argv: Sequence[str], commands: Sequence[str]) -> list[str]:
    """`--allowed-dirs A B detect x.png` → `--allowed-dirs=A --allowed-dirs=B detect x.png`.

    Before the command, `--allowed-dirs` takes one or more folders (a desktop host passes one
    argument per folder its user chose), and argparse would otherwise take the command name and
    its arguments for more folders, then serve stdio instead of running the command.
    """
    out: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--" or token in commands:
            out.extend(argv[index:])
            break
        index += 1
        if token != "--allowed-dirs":
            out.append(token)
            continue
        values: list[str] = []
        while index < len(argv) and not argv[index].startswith("-") and argv[index] not in commands:
            values.append(argv[index])
            index += 1
        out.extend([f"--allowed-dirs={value}" for value in values] or [token])
    return out


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first, command-line options on top. A bad value exits with its name: status 2
    (usage) when an option was wrong, 3 (configuration) when a TRUTHSCAN_* variable was."""
    from pydantic import ValidationError

    from truthscan_mcp.settings import Settings

    overrides: dict[str, Any] = {}
    given: set[str] = set()
    for _flag, dest, kwargs in SETTING_OPTIONS:
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
        from_options = False
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            from_options = from_options or field in given
            message = str(error["msg"]).removeprefix("Value error, ")
            if not field:  # a rule across settings: its message names the variables itself
                lines.append(f"  {message}")
                continue
            lines.append(f"  TRUTHSCAN_{field.upper()} (--{field.replace('_', '-')}): {message}")
        sys.stderr.write("truthscan-mcp: invalid configuration:\n" + "\n".join(lines) + "\n")
        raise SystemExit(2 if from_options else 3) from None
