"""A copied image *file* (what macOS and Windows put on the clipboard when a file is copied in
the file manager): Pillow's ImageGrab returns its path, and the server reads it exactly as a
`path` argument, allowed folders included. The grabber is the one seam: these tests hand the
loader what ImageGrab returns on those systems; the X11 clipboard itself is tested for real
in tests/e2e/test_clipboard.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import AI_PNG
from truthscan_mcp.errors import ClipboardError, SourceNotAllowedError, UnsupportedFormatError
from truthscan_mcp.media.clipboard import load_clipboard

pytestmark = pytest.mark.anyio


async def test_a_copied_image_file_is_read_as_a_path_with_its_metadata(tmp_path: Path) -> None:
    copy = tmp_path / "holiday.png"
    shutil.copy(AI_PNG, copy)
    image = await load_clipboard([tmp_path], grab=lambda: [str(copy)])
    assert image.kind == "clipboard"
    assert image.name == "holiday.png"
    assert image.path == copy.resolve()
    assert image.content is None
    assert image.size == AI_PNG.stat().st_size


async def test_a_copied_file_outside_the_allowed_folders_is_refused_like_a_path(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    with pytest.raises(SourceNotAllowedError):
        await load_clipboard([allowed], grab=lambda: [str(AI_PNG)])


async def test_a_copied_file_that_is_not_an_image_is_refused_by_its_content(tmp_path: Path) -> None:
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture at all\n" * 100)
    with pytest.raises(UnsupportedFormatError):
        await load_clipboard([tmp_path], grab=lambda: [str(notes)])


async def test_an_empty_file_list_says_to_copy_the_image_first(tmp_path: Path) -> None:
    with pytest.raises(ClipboardError, match="copy the image first"):
        await load_clipboard([tmp_path], grab=lambda: [])
