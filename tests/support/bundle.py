"""The desktop bundle as a host launches it: the command line and environment from manifest.json."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast


def host_launch(
    manifest: Mapping[str, Any], user_config: Mapping[str, object], dirname: str
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment an MCPB host builds from the manifest's `mcp_config`.

    Follows the reference implementation (`getMcpConfigForManifest` in @anthropic-ai/mcpb, which
    Claude Desktop uses): `${...}` is replaced inside strings, and an argument that is exactly
    `${user_config.X}` of a multiple-choice setting becomes one argument per chosen value. A
    setting the user left empty, with no default, stays as its literal `${user_config.X}`.
    Booleans are written as JSON writes them (`true`/`false`).
    """
    config = manifest["server"]["mcp_config"]
    values: dict[str, str | list[str]] = {"__dirname": dirname}
    for key, option in manifest.get("user_config", {}).items():
        chosen: object = user_config.get(key, option.get("default"))
        if isinstance(chosen, list):
            values[f"user_config.{key}"] = [str(v) for v in cast("list[object]", chosen)]
        elif isinstance(chosen, bool):
            values[f"user_config.{key}"] = "true" if chosen else "false"
        elif chosen is not None:
            values[f"user_config.{key}"] = str(chosen)

    def substitute(text: str) -> str:
        for name, value in values.items():
            if isinstance(value, str):
                text = text.replace("${" + name + "}", value)
        return text

    args: list[str] = []
    for arg in config.get("args", []):
        whole = re.fullmatch(r"\$\{(user_config\.[^}]+)\}", arg)
        expansion = values.get(whole.group(1)) if whole else None
        if isinstance(expansion, list):
            args.extend(expansion)
        else:
            args.append(substitute(arg))
    env = {name: substitute(value) for name, value in config.get("env", {}).items()}
    return [config["command"], *args], env
