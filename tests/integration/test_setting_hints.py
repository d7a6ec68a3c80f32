"""Through the SDK client: each refusal that asks for a setting names it as the user set it.

The same server is configured three ways (environment, command line, desktop bundle); the
tool's error text is what the model reads and relays to the person, so it must name the knob
that person can reach.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from tests.support import AI_PNG, assert_error, make_server, make_settings
from truthscan_mcp.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image in a folder the server is not allowed to read."""
    folder = tmp_path_factory.mktemp("not-allowed")
    image = folder / "elsewhere.png"
    image.write_bytes(AI_PNG.read_bytes())
    return image


async def _detect(settings: Settings, **arguments: object) -> str:
    async with Client(make_server(settings)) as client:
        result = await client.call_tool("detect_image", arguments)
    return assert_error(result)


async def test_a_path_outside_the_folders_names_the_variable_by_default(outside: Path) -> None:
    text = await _detect(make_settings(), path=str(outside))
    assert "TRUTHSCAN_ALLOWED_DIRS" in text


async def test_a_path_outside_the_folders_names_the_option_when_given_on_the_command_line(
    outside: Path,
) -> None:
    settings = make_settings().given_on_command_line({"allowed_dirs"})
    text = await _detect(settings, path=str(outside))
    assert "--allowed-dirs" in text
    assert "TRUTHSCAN_ALLOWED_DIRS" not in text


async def test_a_path_outside_the_folders_names_the_image_folders_setting_in_the_bundle(
    outside: Path,
) -> None:
    settings = make_settings().launched_by("bundle").given_on_command_line({"allowed_dirs"})
    text = await _detect(settings, path=str(outside))
    assert '"Image folders" setting' in text
    assert "TRUTHSCAN_" not in text
    assert "--allowed-dirs" not in text


async def test_detect_images_on_a_folder_outside_names_the_bundle_setting(outside: Path) -> None:
    settings = make_settings().launched_by("bundle")
    async with Client(make_server(settings)) as client:
        result = await client.call_tool("detect_images", {"directory": str(outside.parent)})
    assert '"Image folders" setting' in assert_error(result)


async def test_no_key_in_the_bundle_says_how_to_add_it_in_the_bundles_words() -> None:
    settings = make_settings(sandbox=False).launched_by("bundle")
    text = await _detect(settings, path=str(AI_PNG))
    assert "open the extension's settings in claude desktop and enter your truthscan api key" in text.lower()
    assert "'Try without a key'" in text
    assert "TRUTHSCAN_API_KEY" not in text


async def test_no_key_given_on_the_command_line_names_the_option() -> None:
    settings = make_settings(sandbox=False).given_on_command_line({"api_key"})
    assert "--api-key" in await _detect(settings, path=str(AI_PNG))


async def test_no_key_by_default_names_the_variable_and_the_sandbox() -> None:
    text = await _detect(make_settings(sandbox=False), path=str(AI_PNG))
    assert "Set TRUTHSCAN_API_KEY" in text
    assert "--sandbox" in text


async def test_a_private_url_names_the_option_when_the_server_was_configured_by_options() -> None:
    settings = make_settings().given_on_command_line({"sandbox"})
    text = await _detect(settings, url="http://127.0.0.1:9/x.png")
    assert "--allow-private-urls" in text


async def test_a_private_url_names_the_variable_by_default() -> None:
    text = await _detect(make_settings(), url="http://127.0.0.1:9/x.png")
    assert "TRUTHSCAN_ALLOW_PRIVATE_URLS=true" in text


async def test_a_private_url_in_the_bundle_says_it_has_no_such_setting() -> None:
    text = await _detect(make_settings().launched_by("bundle"), url="http://127.0.0.1:9/x.png")
    assert "no setting for it" in text
    assert "TRUTHSCAN_" not in text
