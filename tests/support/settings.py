"""The one way tests build `Settings`, and the environment of a server subprocess."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.constants import KEY, SAMPLES
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from tests.support.servers import SandboxServer


def make_settings(server: SandboxServer | None = None, *dirs: Path, **overrides: Any) -> Settings:
    """Settings from the documented defaults and these values only, never the developer's
    TRUTHSCAN_* variables (module-scoped fixtures build servers before any per-test scrubbing).

    With a `server`, the product talks real HTTP to that loopback sandbox as if it were
    TruthScan, with the test key; without one it runs in `--sandbox` mode (no key, no socket).
    Either way the sample images and `dirs` are allowed and the user's cache is never touched.
    """
    values: dict[str, Any] = {
        name: field.get_default(call_default_factory=True) for name, field in Settings.model_fields.items()
    }
    values.update(cache_path="off", allowed_dirs=[SAMPLES, *dirs], log_level="WARNING")
    if server is None:
        values["sandbox"] = True
    else:
        values.update(api_url=server.api_url, storage_url=server.storage_url, api_key=KEY)
    values.update(overrides)
    return Settings(**values)


def scrub_truthscan_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own TRUTHSCAN_* variables must not leak into `Settings()` in tests."""
    for name in list(os.environ):
        if name.startswith("TRUTHSCAN_"):
            monkeypatch.delenv(name)


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a server subprocess: no inherited TRUTHSCAN_*, never the user's cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUTHSCAN_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the first start compiles the package for the rest
    env["TRUTHSCAN_CACHE_PATH"] = "off"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def live_env(server: SandboxServer, *dirs: Path, **extra: str) -> dict[str, str]:
    """`child_env` for a subprocess pointed at the loopback sandbox with the test key."""
    allowed = os.pathsep.join(str(d) for d in (SAMPLES, *dirs))
    return child_env(
        TRUTHSCAN_API_URL=server.api_url,
        TRUTHSCAN_STORAGE_URL=server.storage_url,
        TRUTHSCAN_API_KEY=KEY,
        TRUTHSCAN_ALLOWED_DIRS=allowed,
        **extra,
    )
