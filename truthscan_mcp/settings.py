"""Configuration from `TRUTHSCAN_*` environment variables (each also a command-line option).

Validated once at start-up so a bad value fails loudly with the variable's name, instead of
surfacing later as an obscure error in the middle of a detection.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_API_URL = "https://detect-image.truthscan.com"
DEFAULT_STORAGE_URL = "https://ai-image-detector-prod.nyc3.digitaloceanspaces.com"
#: The base URL the in-process sandbox answers on; no socket is ever opened for it.
SANDBOX_BASE_URL = "http://sandbox.truthscan.invalid"
#: The key used against the sandbox when the user has none: it is not a secret.
SANDBOX_API_KEY = "sandbox-demo-key"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def default_allowed_dirs() -> list[Path]:
    return [Path.home(), Path(tempfile.gettempdir())]


def default_cache_path() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("truthscan-mcp", appauthor=False) / "results.sqlite3"


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

    @field_validator("cache_path", mode="before")
    @classmethod
    def _cache_off(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() in {"off", "none", "false", "0", "disabled"}:
                return None
            if not value.strip():
                return default_cache_path()
            return Path(value.strip()).expanduser()
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def has_api_key(self) -> bool:
        return self.api_key is not None

    def effective_api_key(self) -> str | None:
        """The key to send: the user's, or the sandbox's built-in one in sandbox mode."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.sandbox:
            return SANDBOX_API_KEY
        return None
