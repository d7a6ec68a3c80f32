"""What we ship around the code says what the code does.

The MCPB manifest, the MCP registry's `server.json`, the README and the CI script each restate
something the code decides: tool names and descriptions, the version, the settings, the two
commands a newcomer runs. Nothing but these tests keeps them in step, and a mismatch would
otherwise surface in a user's desktop app, at publish time, or in a README that lies.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import TextContent

from tests.support import ROOT
from tests.support.bundle import host_launch
from truthscan_mcp import __version__
from truthscan_mcp.adapter import prompts
from truthscan_mcp.adapter.server import create_server
from truthscan_mcp.cli.main import build_parser, settings_from
from truthscan_mcp.settings import Settings

#: The README's two promises, word for word (CI runs whatever README.md says; this pins it).
DEMO_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && pip install . && truthscan-mcp demo"
TEST_COMMAND = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && pytest'

#: Settings whose values are credentials: secret in server.json, never echoed anywhere.
SECRET_SETTINGS = frozenset({"api_key", "http_token", "cache_url"})  # a database URL carries its password


def _json(name: str) -> dict[str, Any]:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _words(text: str | None) -> str:
    """Descriptions compared word for word: line wrapping is layout, not content."""
    return " ".join((text or "").split())


def _variable(setting: str) -> str:
    return f"TRUTHSCAN_{setting.upper()}"


def _readme_block_after(marker: str) -> str | None:
    """The first line of the fenced code block right after `<!-- ci:marker -->`."""
    match = re.search(rf"^<!-- ci:{re.escape(marker)} -->\n```[a-z]*\n(.*)\n", _readme(), re.MULTILINE)
    return match.group(1) if match else None


def _host_launch(user_config: Mapping[str, object], dirname: str) -> tuple[list[str], dict[str, str]]:
    return host_launch(_json("manifest.json"), user_config, dirname)


def _settings_of_launch(
    command: list[str], env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings of the server the host would start: its own CLI parses the launch command."""
    assert command[0] == "uv"
    assert "truthscan-mcp" in _pyproject()["project"]["scripts"]
    server_argv = command[command.index("truthscan-mcp") + 1 :]
    for name in list(Settings.model_fields):
        monkeypatch.delenv(_variable(name), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return settings_from(build_parser().parse_args(server_argv))


# --- the MCPB manifest -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_manifest_lists_exactly_the_tools_the_server_serves() -> None:
    async with Client(create_server(Settings(sandbox=True, cache_path=None))) as client:
        listed = (await client.list_tools()).tools
    # An app-only tool (MCP Apps visibility ["app"]) is for the evidence view, not for users or models.
    visible = [t for t in listed if "model" in (t.meta or {}).get("ui", {}).get("visibility", ["model"])]
    served = {tool.name: _words(tool.description) for tool in visible}
    declared = {tool["name"]: _words(tool.get("description")) for tool in _json("manifest.json")["tools"]}
    suggestion = json.dumps([{"name": n, "description": d} for n, d in served.items()], indent=2)
    assert declared == served, f"manifest.json 'tools' should be:\n{suggestion}"


@pytest.mark.anyio
async def test_manifest_lists_exactly_the_prompts_the_server_offers() -> None:
    """Each with its arguments' names, and a `text` that uses MCPB's `${arguments.NAME}` for each
    and presents the answer as the server's own prompt does."""
    async with Client(create_server(Settings(sandbox=True, cache_path=None))) as client:
        listed = (await client.list_prompts()).prompts
        served = {p.name: (_words(p.description), [a.name for a in p.arguments or []]) for p in listed}
        page = await client.get_prompt("check_page", {"url": "${arguments.url}"})
    manifest = _json("manifest.json")
    declared = {
        p["name"]: (_words(p.get("description")), p.get("arguments", [])) for p in manifest["prompts"]
    }
    suggestion = json.dumps({n: {"description": d, "arguments": a} for n, (d, a) in served.items()}, indent=2)
    assert declared == served, f"manifest.json 'prompts' should be:\n{suggestion}"
    assert set(served) == {"check_image", "check_page"}
    assert manifest["prompts_generated"] is False
    texts = {p["name"]: p["text"] for p in manifest["prompts"]}
    for name, (_, arguments) in served.items():
        assert all(f"${{arguments.{a}}}" in texts[name] for a in arguments)
        assert texts[name].endswith(prompts.PRESENTING)
    content = page.messages[0].content
    assert isinstance(content, TextContent)
    assert texts["check_page"] == content.text  # the server's own words, with the placeholder


def test_manifest_declares_every_user_setting_it_uses_and_uses_every_one_it_declares() -> None:
    manifest = _json("manifest.json")
    used = set(re.findall(r"\$\{user_config\.([^}]+)\}", json.dumps(manifest["server"]["mcp_config"])))
    assert used == set(manifest["user_config"])


def test_manifest_asks_for_the_key_as_an_optional_secret_and_for_several_folders() -> None:
    options = _json("manifest.json")["user_config"]
    key = options["api_key"]
    assert (key["type"], key["sensitive"], key["required"]) == ("string", True, False)
    folders = options["allowed_directories"]
    assert (folders["type"], folders["multiple"]) == ("directory", True)
    wait = options["wait_seconds"]
    default_wait = Settings.model_fields["wait_seconds"].default
    assert (wait["type"], wait["default"], wait["min"], wait["max"]) == ("number", default_wait, 0, 600)


def test_manifest_runs_the_package_with_uv_from_the_bundle_directory() -> None:
    server = _json("manifest.json")["server"]
    assert server["type"] == "uv"
    assert (ROOT / server["entry_point"]).is_file()
    command, _ = _host_launch({"api_key": "k", "allowed_directories": ["/d"]}, "/bundle")
    assert command[:4] == ["uv", "run", "--directory", "/bundle"]


def test_the_lock_is_resolved_from_wheels_for_every_platform_the_manifest_declares() -> None:
    # `uv run` on the user's machine installs from uv.lock: it must be resolved (and shipped) for
    # each platform the bundle claims, or the server fails to start there before any code runs.
    declared = set(_json("manifest.json")["compatibility"]["platforms"])
    uv = _pyproject()["tool"]["uv"]
    required = uv["required-environments"]
    assert declared == {"darwin", "win32", "linux"}
    assert {re.search(r"sys_platform == '(\w+)'", env)[1] for env in required} == declared  # type: ignore[index]
    machines = {re.search(r"platform_machine == '(\w+)'", env)[1] for env in required}  # type: ignore[index]
    assert machines == {"arm64", "x86_64", "AMD64", "aarch64"}
    assert uv["no-build"] is True  # wheels only: no compiler on the user's machine
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    assert len(lock["required-markers"]) == len(required)
    assert "!/uv.lock" in (ROOT / ".mcpbignore").read_text(encoding="utf-8").splitlines()


#: uv's name for each platform of `[tool.uv] required-environments` (sys_platform, platform_machine).
UV_PLATFORM_NAMES = {
    ("darwin", "arm64"): "aarch64-apple-darwin",
    ("darwin", "x86_64"): "x86_64-apple-darwin",
    ("win32", "AMD64"): "x86_64-pc-windows-msvc",
    ("linux", "x86_64"): "x86_64-unknown-linux-gnu",
    ("linux", "aarch64"): "aarch64-unknown-linux-gnu",
}


def test_ci_dry_runs_the_install_on_exactly_the_platforms_the_lock_is_resolved_for() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    checked = set(re.search(r'^BUNDLE_PLATFORMS="([^"]+)"', ci, re.MULTILINE)[1].split())  # type: ignore[index]
    required = {
        UV_PLATFORM_NAMES[(m[1], m[2])]
        for env in _pyproject()["tool"]["uv"]["required-environments"]
        if (m := re.search(r"sys_platform == '(\w+)' and platform_machine == '(\w+)'", env))
    }
    assert checked == required == set(UV_PLATFORM_NAMES.values())
    assert "uv sync --locked --dry-run --no-build --python-platform" in ci
    assert "uv lock --check" in ci
    assert "step bundle-uv-run" in ci


def test_manifest_launch_hands_the_users_key_folder_and_wait_to_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    command, env = _host_launch(
        {"api_key": "key-from-the-dialog", "allowed_directories": [str(tmp_path)], "wait_seconds": 30},
        "/bundle",
    )
    settings = _settings_of_launch(command, env, monkeypatch)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "key-from-the-dialog"
    assert settings.allowed_dirs == [tmp_path.resolve()]
    assert settings.wait_seconds == 30


def test_manifest_launch_hands_every_chosen_folder_to_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folders = [tmp_path / "photos", tmp_path / "downloads"]
    command, env = _host_launch({"api_key": "k", "allowed_directories": [str(f) for f in folders]}, "/b")
    settings = _settings_of_launch(command, env, monkeypatch)
    assert settings.allowed_dirs == [f.resolve() for f in folders]


def test_manifest_offers_a_sandbox_switch_off_by_default() -> None:
    switch = _json("manifest.json")["user_config"]["sandbox"]
    assert (switch["type"], switch["default"]) == ("boolean", False)
    assert switch["title"] == "Try without a key: simulated verdicts"


@pytest.mark.parametrize("left_empty_as", ["", "${user_config.api_key}"])
def test_manifest_launch_without_a_key_starts_a_keyless_server_that_knows_it_is_the_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, left_empty_as: str
) -> None:
    command, env = _host_launch({"allowed_directories": [str(tmp_path)]}, "/b")
    if left_empty_as:
        assert env["TRUTHSCAN_API_KEY"] == left_empty_as  # what a host does with an unset secret
    env["TRUTHSCAN_API_KEY"] = left_empty_as
    settings = _settings_of_launch(command, env, monkeypatch)
    assert (settings.api_key, settings.sandbox, settings.launcher) == (None, False, "bundle")
    assert settings.hints.knob("allowed_dirs") == 'the "Image folders" setting'


def test_manifest_launch_with_the_sandbox_switch_on_runs_the_simulator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    command, env = _host_launch({"allowed_directories": [str(tmp_path)], "sandbox": True}, "/b")
    settings = _settings_of_launch(command, env, monkeypatch)
    assert settings.sandbox is True
    assert settings.effective_api_key() is not None


# --- the MCP registry's server.json ----------------------------------------------------------


def test_version_is_the_same_in_the_package_the_manifest_and_the_registry_entry() -> None:
    server = _json("server.json")
    versions = {
        "pyproject.toml": _pyproject()["project"]["version"],
        "truthscan_mcp.__version__": __version__,
        "manifest.json": _json("manifest.json")["version"],
        "server.json": server["version"],
        "server.json package": server["packages"][0]["version"],
    }
    assert set(versions.values()) == {__version__}, versions


def test_registry_entry_is_the_pypi_package_over_stdio() -> None:
    server = _json("server.json")
    assert server["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert re.fullmatch(r"io\.github\.[A-Za-z0-9-]+/truthscan-mcp", server["name"])
    assert 1 <= len(server["description"]) <= 100  # the registry refuses longer ones
    (package,) = server["packages"]
    assert (package["registryType"], package["identifier"]) == ("pypi", _pyproject()["project"]["name"])
    assert package["transport"] == {"type": "stdio"}


def test_registry_entry_declares_every_setting_and_marks_exactly_the_credentials_secret() -> None:
    (package,) = _json("server.json")["packages"]
    declared = {var["name"]: var for var in package["environmentVariables"]}
    assert set(declared) == {_variable(name) for name in Settings.model_fields}
    secret = {name for name, var in declared.items() if var.get("isSecret")}
    assert secret == {_variable(name) for name in SECRET_SETTINGS}
    assert all(var.get("description") for var in declared.values())


def test_readme_carries_the_registry_ownership_marker_for_the_pypi_package() -> None:
    assert f"<!-- mcp-name: {_json('server.json')['name']} -->" in _readme()


# --- the README and CI ------------------------------------------------------------------------


def test_readme_gives_the_demo_command_and_the_test_command_verbatim() -> None:
    assert _readme_block_after("demo-command") == DEMO_COMMAND
    assert _readme_block_after("test-command") == TEST_COMMAND


@pytest.mark.skipif(shutil.which("bash") is None, reason="CI is a bash script")
def test_ci_runs_the_two_commands_the_readme_gives() -> None:
    printed = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run"), "--print-readme-commands"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert printed.splitlines() == [f"demo: {DEMO_COMMAND}", f"test: {TEST_COMMAND}"]


def test_readme_documents_every_configuration_variable_and_its_option() -> None:
    readme = _readme()
    undocumented = [
        name
        for name in Settings.model_fields
        if _variable(name) not in readme or f"--{name.replace('_', '-')}" not in readme
    ]
    assert not undocumented


def test_readme_lists_every_tool_the_manifest_declares() -> None:
    readme = _readme()
    assert [t["name"] for t in _json("manifest.json")["tools"] if f"`{t['name']}`" not in readme] == []
