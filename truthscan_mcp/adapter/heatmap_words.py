"""The heatmap in words, for clients whose model cannot see an image block.

Some clients drop image content (Copilot CLI) or hand it to a model that cannot see images
(Gemini CLI): there the attached heatmap says nothing, so the text says where it is hot. The
picture is read as a heat colour ramp (blue cold, red hot) — or as brightness when it is grey —
averaged over a 3×3 grid; the hottest cells are named.
"""

from __future__ import annotations

import colorsys
import logging

from truthscan_mcp.adapter.pixels import decode_small

logger = logging.getLogger(__name__)

_CELLS = (
    ("upper-left", "top", "upper-right"),
    ("left", "centre", "right"),
    ("lower-left", "bottom", "lower-right"),
)
#: the grid is read from a copy this small (enough for nine averages, cheap on a 4K heatmap)
_SAMPLE = 48
#: larger pictures are not decoded (a heatmap is a small image; a hostile one can be a bomb)
_MAX_PIXELS = 16_000_000
#: a cell within this share of the hottest one's heat counts as hot too
_NEAR_HOTTEST = 0.85
#: a cell below this share of the hottest one's heat is named as weak when most are hot
_COLD = 0.5
#: hottest and coldest cells closer than this: the heat is spread, not concentrated
_EVEN = 0.08


def _heat(red: int, green: int, blue: int, alpha: int, grey: bool) -> float:
    """0 (cold) … 1 (hot) for one pixel; a transparent pixel carries no heat."""
    hue, saturation, value = colorsys.rgb_to_hsv(red / 255, green / 255, blue / 255)
    if grey or saturation < 0.25:  # a grey pixel: brightness is the heat
        return value * alpha / 255
    # a jet-like ramp: the hue alone says how hot (its ends, dark blue and dark red, are dim)
    degrees = hue * 360
    if degrees > 300:  # magenta wraps to red: hot
        degrees = 0.0
    return max(0.0, 1 - min(degrees, 240) / 240) * alpha / 255


def grid_heat(png: bytes) -> list[list[float]] | None:
    """The mean heat of each cell of a 3×3 grid (rows top to bottom); None when unreadable.

    Decoded through `pixels.decode_small`: a heatmap is a small image, but a hostile one can be
    a bomb, so its size is read from the header and a larger one is never decoded."""
    decoded = decode_small(png, _SAMPLE * 4, budget=_MAX_PIXELS)
    if decoded.image is None:
        logger.info("the heatmap could not be decoded for a description (%s)", decoded.note)
        return None
    try:
        opened = decoded.image
        grey = opened.mode in ("1", "L", "LA", "I", "I;16", "F")
        small = opened.convert("RGBA").resize((_SAMPLE, _SAMPLE))  # pyright: ignore[reportUnknownMemberType]
        rgba = small.tobytes()
    except Exception:  # a small image that will not convert: the heatmap then goes without words
        logger.info("the heatmap could not be decoded for a description")
        return None
    sums = [[0.0] * 3 for _ in range(3)]
    counts = [[0] * 3 for _ in range(3)]
    for index in range(_SAMPLE * _SAMPLE):
        red, green, blue, alpha = rgba[index * 4 : index * 4 + 4]
        y, x = divmod(index, _SAMPLE)
        row, col = min(2, y * 3 // _SAMPLE), min(2, x * 3 // _SAMPLE)
        sums[row][col] += _heat(red, green, blue, alpha, grey)
        counts[row][col] += 1
    return [[sums[r][c] / max(1, counts[r][c]) for c in range(3)] for r in range(3)]


def describe_heatmap(png: bytes) -> str | None:
    """Where the heatmap is concentrated, e.g. "concentrated in the upper-left and centre"."""
    grid = grid_heat(png)
    if grid is None:
        return None
    cells = [(grid[r][c], _CELLS[r][c]) for r in range(3) for c in range(3)]
    hottest = max(heat for heat, _ in cells)
    coldest = min(heat for heat, _ in cells)
    if hottest <= 0.02:
        return "uniformly cold (no region stands out)"
    if hottest - coldest < _EVEN:
        return "spread evenly over the whole image"
    ranked = sorted(cells, reverse=True)
    hot = [name for heat, name in ranked if heat >= hottest * _NEAR_HOTTEST]
    if len(hot) > 3:
        cold = [name for heat, name in ranked if heat < hottest * _COLD][::-1][:3]
        weakest = f", weakest in the {_and(cold)}" if cold else ""
        return f"spread over most of the image{weakest}"
    return f"concentrated in the {_and(hot)}"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
