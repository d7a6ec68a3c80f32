"""Configuration from `TRUTHSCAN_*` environment variables (each also a command-line option).

Validated once at start-up so a bad value fails loudly with the variable's name, instead of
surfacing later as an obscure error in the middle of a detection.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_API_URL = "https://detect-image.truthscan.com"
DEFAULT_STORAGE_URL = "https://ai-image-detector-prod.nyc3.digitaloceanspaces.com"
#: The base URL the in-process sandbox answers on; no socket is ever opened for it.
SANDBOX_BASE_URL = "http://sandbox.truthscan.invalid"
#: The key used against the sandbox when the user has none: it is not a secret.
SANDBOX_API_KEY = "sandbox-demo-key"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
#: Who started the server, as far as its configuration goes: the desktop bundle says so through
#: TRUTHSCAN_LAUNCHER=bundle in its manifest; anything else is a command line and its environment.
Launcher = Literal["bundle", "command"]
#: Where one setting's value is to be changed: a command-line option, the bundle's settings
#: screen, or a TRUTHSCAN_* variable.
Origin = Literal["command_line", "bundle", "environment"]

#: Set to `bundle` by the desktop bundle's manifest; read at start-up, never documented as a setting.
LAUNCHER_VARIABLE = "TRUTHSCAN_LAUNCHER"
#: A placeholder a host left in place because the user gave no value (`${user_config.api_key}`).
_UNSUBSTITUTED = re.compile(r"^\$\{user_config\.[^}]*\}$")
#: The bundle's settings screen, by Settings field: the titles in manifest.json's user_config.
BUNDLE_TITLES = {
    "api_key": "TruthScan API key",
    "allowed_dirs": "Image folders",
    "wait_seconds": "Wait for a result (seconds)",
    "sandbox": "Try without a key: simulated verdicts",
    "max_detections_per_day": "Daily detection limit",
}
BUNDLE_SETTINGS_PLACE = "the extension's settings in Claude Desktop"


def _left_unset(name: str, value: Any) -> bool:
    """Whether a host's value means "not given". `allowed_dirs` reads every value itself; an
    empty `cache_path` is refused by its validator (an empty path must never mean the default)."""
    if not isinstance(value, str) or name == "allowed_dirs":
        return False
    if _UNSUBSTITUTED.match(value.strip()):
        return True
    return not value.strip() and name != "cache_path"


@dataclass(frozen=True)
class SettingHints:
    """The name of each setting's knob in the way this server was started.

    A hint that says "set TRUTHSCAN_ALLOWED_DIRS" to someone who passed `--allowed-dirs`, or
    who installed the desktop bundle and never saw an environment variable, sends them looking
    in the wrong place. Every message that tells the reader to change a setting asks this.
    """

    launcher: Launcher = "command"
    command_line: frozenset[str] = field(default_factory=frozenset[str])

    def origin(self, name: str) -> Origin:
        # The bundle passes its settings as options and variables, but its user knows only its screen.
        if self.launcher == "bundle" and name in BUNDLE_TITLES:
            return "bundle"
        if name in self.command_line:
            return "command_line"
        return "environment"

    def knob(self, name: str) -> str:
        """`--allowed-dirs`, `the "Image folders" setting`, or `TRUTHSCAN_ALLOWED_DIRS`."""
        origin = self.origin(name)
        if origin == "command_line":
            return "--" + name.replace("_", "-")
        if origin == "bundle":
            return f'the "{BUNDLE_TITLES[name]}" setting'
        return "TRUTHSCAN_" + name.upper()

    def add_folder_hint(self) -> str:
        """How to let the server read one more folder (completes "Copy the image into one of them, …")."""
        origin = self.origin("allowed_dirs")
        if origin == "command_line":
            return "or add the folder to --allowed-dirs (one or more folders) and restart the server"
        if origin == "bundle":
            return f'or add the folder to the "Image folders" setting in {BUNDLE_SETTINGS_PLACE}'
        return f"or set TRUTHSCAN_ALLOWED_DIRS (a list separated by {os.pathsep!r}) to add one"

    def private_urls_hint(self) -> str:
        """How to allow URL sources on private addresses (completes "If you trust this network, …")."""
        if self.launcher == "bundle":
            return (
                "the desktop bundle has no setting for it: save the image into one of the image "
                "folders and pass its path instead"
            )
        if self.launcher == "command" and self.command_line:
            return "restart the server with --allow-private-urls (only for trusted networks)"
        return "set TRUTHSCAN_ALLOW_PRIVATE_URLS=true to allow it (only for trusted networks)"

    def add_key_hint(self) -> str:
        """What to do when no key is configured: a sentence, starting with a capital."""
        origin = self.origin("api_key")
        if origin == "bundle":
            return (
                f"Open {BUNDLE_SETTINGS_PLACE} and enter your TruthScan API key, or switch on "
                "'Try without a key' to see it work on simulated verdicts."
            )
        if origin == "command_line":
            return (
                "Pass your key with --api-key (or set TRUTHSCAN_API_KEY: options show in ps) — get one "
                "from the TruthScan developer portal — or run with --sandbox to try the simulator."
            )
        return (
            "Set TRUTHSCAN_API_KEY in the MCP server's environment (get a key from the TruthScan "
            "developer portal), or run with --sandbox to try the simulator."
        )

    def daily_limit_hint(self) -> str:
        """How to allow more paid detections a day (completes "To allow more, …")."""
        origin = self.origin("max_detections_per_day")
        if origin == "bundle":
            return f'raise the "Daily detection limit" in {BUNDLE_SETTINGS_PLACE}'
        if origin == "command_line":
            return "restart the server with a higher --max-detections-per-day"
        return "raise TRUTHSCAN_MAX_DETECTIONS_PER_DAY in the server's environment and restart it"

    def key_place(self) -> str:
        """Where the key in use was given, to check it (completes "Check …: it must be…")."""
        origin = self.origin("api_key")
        if origin == "bundle":
            return f'the "TruthScan API key" in {BUNDLE_SETTINGS_PLACE}'
        if origin == "command_line":
            return "the key given with --api-key"
        return "TRUTHSCAN_API_KEY"


#: The hints of a server configured through its environment alone (the default).
ENVIRONMENT_HINTS = SettingHints()


def default_allowed_dirs() -> list[Path]:
    return [Path.home(), Path(tempfile.gettempdir())]


def default_cache_path() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("truthscan-mcp", appauthor=False) / "results.sqlite3"


def default_reports_dir() -> Path:
    """`TruthScan reports` in the user's documents folder (where a person looks for files)."""
    from platformdirs import user_documents_path

    return user_documents_path() / "TruthScan reports"


def is_loopback_url(url: str) -> bool:
    """Whether `url` names a loopback host (127.0.0.0/8, ::1, localhost): the only place a plain
    http:// authorization server may be trusted (a test or a development identity provider)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRUTHSCAN_",
        extra="ignore",
        validate_default=True,
        hide_input_in_errors=True,
    )

    api_key: SecretStr | None = Field(default=None, description="TruthScan API key.")
    api_url: str = Field(default=DEFAULT_API_URL, description="TruthScan API base URL.")
    storage_url: str = Field(default=DEFAULT_STORAGE_URL, description="Storage base URL sent to /detect.")
    wait_seconds: float = Field(default=45.0, ge=0, le=600, description="Default wait for a complete result.")
    allowed_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=default_allowed_dirs,
        description="Directories local image paths must resolve into.",
    )
    allow_private_urls: bool = Field(default=False, description="Allow URL sources on private addresses.")
    cache_path: Annotated[Path | None, NoDecode] = Field(
        default_factory=default_cache_path, description="SQLite result cache; 'off' disables."
    )
    sandbox: bool = Field(default=False, description="Run against the built-in API simulator.")
    log_level: LogLevel = Field(default="INFO")
    http_token: SecretStr | None = Field(default=None, description="Bearer token for the HTTP transport.")
    http_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list[str], description="Browser origins the HTTP transport answers (comma-separated)."
    )
    max_concurrency: int = Field(default=4, ge=1, le=32, description="Parallel detections in a batch.")
    reports_dir: Annotated[Path, NoDecode] = Field(
        default_factory=default_reports_dir,
        description="Where evidence reports go by default (export_report, detect --report).",
    )
    max_detections_per_day: int | None = Field(
        default=None,
        ge=0,
        description="Paid detections per UTC day, across every server sharing the cache; unset: no cap.",
    )
    confirm_above: int = Field(
        default=5, ge=0, description="A batch paying for more detections than this asks the person first."
    )
    cache_url: SecretStr | None = Field(
        default=None,
        description="postgresql://… : the shared store of a team deployment (instead of SQLite).",
    )
    oauth_issuer: str | None = Field(
        default=None, description="OAuth 2.1 authorization server: turns on bearer-token checks over HTTP."
    )
    oauth_audience: str | None = Field(
        default=None, description="This server's resource URL; tokens must name it."
    )
    oauth_jwks_url: str | None = Field(
        default=None, description="The issuer's JWKS (default: from its metadata)."
    )
    oauth_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["truthscan"], description="Scopes a token must carry (space-separated)."
    )
    per_user: bool = Field(
        default=False,
        description="Keep the daily cap and the history per user (the token's issuer and subject); "
        "needs TRUTHSCAN_OAUTH_ISSUER.",
    )
    # Where the values came from, for `hints`: not settings themselves (no option, no variable
    # to document), so private attributes.
    _launcher: Launcher = PrivateAttr(default="command")
    _command_line: frozenset[str] = PrivateAttr(default_factory=frozenset[str])

    def model_post_init(self, context: Any, /) -> None:
        # The desktop bundle's marker (mcp_config.env in manifest.json): internal, not a setting.
        if os.environ.get(LAUNCHER_VARIABLE, "").strip().lower() == "bundle":
            self._launcher = "bundle"

    @model_validator(mode="before")
    @classmethod
    def _unset_placeholders(cls, data: Any) -> Any:
        """A host may pass an optional setting the user left empty as "" or as its literal
        `${user_config.name}`: both mean "not given", so the default applies."""
        if not isinstance(data, dict):
            return data
        given: dict[str, Any] = dict(data)  # pyright: ignore[reportUnknownArgumentType]
        return {name: value for name, value in given.items() if not _left_unset(name, value)}

    @field_validator("api_key", "http_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str):
            return value.strip()
        return value

    @field_validator("api_url", "storage_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("cache_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            if not value.startswith(("postgresql://", "postgres://")):
                raise ValueError("must be a postgresql:// URL (the SQLite file is TRUTHSCAN_CACHE_PATH)")
        return value

    @field_validator("oauth_issuer", "oauth_audience", "oauth_jwks_url", mode="before")
    @classmethod
    def _oauth_url(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None
        if not value.startswith("https://") and not (value.startswith("http://") and is_loopback_url(value)):
            raise ValueError(
                "must be an https:// URL (plain http:// only on loopback: 127.0.0.1, ::1, localhost)"
            )
        return value

    @field_validator("oauth_scopes", mode="before")
    @classmethod
    def _split_scopes(cls, value: Any) -> Any:
        items: list[Any] = value.split() if isinstance(value, str) else list(value)
        return [str(item).strip() for item in items if str(item).strip()]

    @model_validator(mode="after")
    def _oauth_complete(self) -> Settings:
        if self.oauth_issuer is not None and self.oauth_audience is None:
            raise ValueError(
                "TRUTHSCAN_OAUTH_ISSUER is set without TRUTHSCAN_OAUTH_AUDIENCE: set it to this "
                "server's public URL (e.g. https://truthscan.example.org/mcp); tokens must name it"
            )
        if self.oauth_issuer is not None and self.http_token is not None:
            raise ValueError(
                "TRUTHSCAN_OAUTH_ISSUER and TRUTHSCAN_HTTP_TOKEN are both set: a team deployment checks "
                "OAuth tokens, one person's server the static token; unset one of them"
            )
        if self.per_user and self.oauth_issuer is None:
            raise ValueError(
                "TRUTHSCAN_PER_USER is set without TRUTHSCAN_OAUTH_ISSUER: a user is known only from a "
                "verified OAuth token; set the issuer (and audience), or unset TRUTHSCAN_PER_USER"
            )
        return self

    @field_validator("http_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # An Origin header is scheme://host[:port], lower-case, without a path or a slash.
        items: list[Any] = value.split(",") if isinstance(value, str) else list(value)
        return [str(item).strip().rstrip("/").lower() for item in items if str(item).strip()]

    @field_validator("allowed_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(os.pathsep) if p.strip()]
            if not parts:
                return default_allowed_dirs()
            return [Path(p).expanduser() for p in parts]
        return value

    @field_validator("allowed_dirs")
    @classmethod
    def _resolve_dirs(cls, value: list[Path]) -> list[Path]:
        return [Path(p).expanduser().resolve() for p in value]

    @field_validator("reports_dir", mode="before")
    @classmethod
    def _reports_dir_default(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return default_reports_dir()
            return Path(value.strip()).expanduser()
        return value

    @field_validator("cache_path", mode="before")
    @classmethod
    def _cache_off(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() in {"off", "none", "false", "0", "disabled"}:
                return None
            if not value.strip():
                # Not the default: `cache clear` with a path that came out empty (an unset shell
                # variable) must not empty the user's real cache.
                raise ValueError("is empty; give the cache file's path, or 'off' to keep no cache")
            return Path(value.strip()).expanduser()
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    def given_on_command_line(self, names: Iterable[str]) -> Settings:
        """Record which settings came from command-line options, for `hints`; returns self."""
        self._command_line = frozenset(names)
        return self

    def launched_by(self, launcher: Launcher) -> Settings:
        """Record who started the server (as TRUTHSCAN_LAUNCHER does), for `hints`; returns self."""
        self._launcher = launcher
        return self

    @property
    def launcher(self) -> Launcher:
        return self._launcher

    @property
    def hints(self) -> SettingHints:
        return SettingHints(launcher=self._launcher, command_line=self._command_line)

    def effective_api_key(self) -> str | None:
        """The key to send: the user's, or the sandbox's built-in one in sandbox mode."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.sandbox:
            return SANDBOX_API_KEY
        return None
