"""Decoding within a pixel budget (`adapter.pixels`): dimensions first, pixels only within it."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

from tests.support.images import png_bomb, webp_bomb
from truthscan_mcp.adapter.evidence_view import thumbnail_of
from truthscan_mcp.adapter.heatmap_words import grid_heat
from truthscan_mcp.adapter.pixels import MAX_DECODE_PIXELS, decode_small, webp_size


def _encoded(size: tuple[int, int], fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def test_the_budget_is_tens_of_megapixels() -> None:
    assert 10_000_000 <= MAX_DECODE_PIXELS <= 64_000_000


def test_a_webp_canvas_is_read_from_its_header_without_a_decoder() -> None:
    assert webp_size(webp_bomb(13_000)) == (13_000, 13_000)
    assert webp_size(_encoded((300, 200), "WEBP")) == (300, 200)
    assert webp_size(b"\x89PNG\r\n\x1a\n" + bytes(40)) is None


@pytest.mark.parametrize("bomb", [png_bomb, webp_bomb], ids=["png", "webp"])
def test_a_bomb_is_refused_by_its_header_size(bomb: Callable[[], bytes]) -> None:
    """The note names the header's dimensions: the refusal came before any decoding (the
    server's memory under a bomb is measured in tests/e2e/test_image_bombs.py)."""
    decoded = decode_small(bomb(), 512)
    assert decoded.image is None
    assert "13000×13000" in (decoded.note or "")


def test_a_jpeg_over_the_budget_is_decoded_at_a_reduced_scale() -> None:
    data = _encoded((2000, 1500), "JPEG")  # 3 MP; the budget below is 1 MP
    decoded = decode_small(data, 256, budget=1_000_000)
    assert decoded.image is not None, decoded.note
    assert max(decoded.image.size) == 256


def test_a_png_over_the_budget_gets_a_note_not_a_thumbnail() -> None:
    decoded = decode_small(_encoded((2000, 1500), "PNG"), 256, budget=1_000_000)
    assert decoded.image is None
    assert "2000×1500" in (decoded.note or "")


def test_an_ordinary_image_still_gets_a_bounded_thumbnail() -> None:
    uri, note = thumbnail_of(_encoded((1600, 900), "PNG"), "image/png")
    assert note is None
    assert uri is not None
    assert uri.startswith("data:image/jpeg;base64,")


def test_bytes_that_are_no_image_get_a_note_and_never_raise() -> None:
    uri, note = thumbnail_of(b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048, "image/png")
    assert uri is None
    assert note


def test_a_heatmap_bomb_is_not_described() -> None:
    assert grid_heat(png_bomb()) is None
    assert grid_heat(_encoded((64, 64), "PNG")) is not None
