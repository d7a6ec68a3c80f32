"""Hints name the knob of the way the server was started: option, bundle setting or variable.

A person who typed `--allowed-dirs`, or installed the desktop bundle and never saw an
environment variable, must be told to change what they can see.
"""

from __future__ import annotations

import os

import pytest

from truthscan_mcp.cli.main import build_parser, settings_from
from truthscan_mcp.settings import SettingHints, Settings

BUNDLE = SettingHints(launcher="bundle")
COMMAND_LINE = SettingHints(command_line=frozenset({"allowed_dirs", "api_key", "sandbox"}))
ENVIRONMENT = SettingHints()


@pytest.fixture(autouse=True)
def _no_developer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRUTHSCAN_"):
            monkeypatch.delenv(name)


def test_a_folder_hint_names_the_option_given_on_the_command_line() -> None:
    assert "--allowed-dirs" in COMMAND_LINE.add_folder_hint()
    assert "TRUTHSCAN_ALLOWED_DIRS" not in COMMAND_LINE.add_folder_hint()


def test_a_folder_hint_names_the_bundles_image_folders_setting() -> None:
    assert '"Image folders" setting' in BUNDLE.add_folder_hint()
    assert "TRUTHSCAN_" not in BUNDLE.add_folder_hint()


def test_a_folder_hint_names_the_variable_otherwise() -> None:
    assert f"TRUTHSCAN_ALLOWED_DIRS (a list separated by {os.pathsep!r})" in ENVIRONMENT.add_folder_hint()


def test_the_missing_key_hint_in_the_bundle_points_at_its_settings_and_the_switch() -> None:
    hint = BUNDLE.add_key_hint()
    assert "open the extension's settings in claude desktop and enter your truthscan api key" in hint.lower()
    assert "'Try without a key'" in hint
    assert "TRUTHSCAN_" not in hint
    assert "--" not in hint


def test_the_missing_key_hint_names_the_option_or_the_variable() -> None:
    assert "--api-key" in COMMAND_LINE.add_key_hint()
    assert ENVIRONMENT.add_key_hint().startswith("Set TRUTHSCAN_API_KEY")


def test_the_rejected_key_hint_says_where_the_key_was_given() -> None:
    assert BUNDLE.key_place() == 'the "TruthScan API key" in the extension\'s settings in Claude Desktop'
    assert COMMAND_LINE.key_place() == "the key given with --api-key"
    assert ENVIRONMENT.key_place() == "TRUTHSCAN_API_KEY"


def test_the_private_url_hint_names_the_option_the_variable_or_the_bundles_lack_of_one() -> None:
    assert "--allow-private-urls" in COMMAND_LINE.private_urls_hint()
    assert "TRUTHSCAN_ALLOW_PRIVATE_URLS=true" in ENVIRONMENT.private_urls_hint()
    assert "no setting for it" in BUNDLE.private_urls_hint()


def test_settings_from_the_command_line_record_which_options_were_given() -> None:
    settings = settings_from(build_parser().parse_args(["--allowed-dirs", "/tmp", "--cache-path", "off"]))
    assert settings.hints.knob("allowed_dirs") == "--allowed-dirs"
    assert settings.hints.knob("api_key") == "TRUTHSCAN_API_KEY"


def test_the_bundle_marker_wins_over_the_options_the_bundle_itself_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRUTHSCAN_LAUNCHER", "bundle")
    settings = settings_from(build_parser().parse_args(["--allowed-dirs", "/tmp", "--cache-path", "off"]))
    assert settings.hints.knob("allowed_dirs") == 'the "Image folders" setting'


@pytest.mark.parametrize("unset", ["", "  ", "${user_config.api_key}"])
def test_a_key_the_host_left_unset_is_no_key(monkeypatch: pytest.MonkeyPatch, unset: str) -> None:
    monkeypatch.setenv("TRUTHSCAN_API_KEY", unset)
    assert Settings(cache_path=None).api_key is None


def test_an_unsubstituted_switch_or_wait_falls_back_to_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHSCAN_SANDBOX", "${user_config.sandbox}")
    monkeypatch.setenv("TRUTHSCAN_WAIT_SECONDS", "${user_config.wait_seconds}")
    settings = Settings(cache_path=None)
    assert (settings.sandbox, settings.wait_seconds) == (False, 45.0)
