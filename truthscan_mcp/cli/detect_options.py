"""The options of `truthscan-mcp detect` (its configuration options come from `options`).

Imported to build the parser of every command, the server's included: it names the formats and
tiers itself rather than importing the modules that use them (and the detection stack with them).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from truthscan_mcp.models import Tier

FORMATS = ("table", "json", "jsonl", "csv")
#: TruthScan's tiers from the most real to the most synthetic: `--fail-on` compares by position.
TIERS: tuple[Tier, ...] = ("Real", "Likely Real", "Likely Synthetic", "Synthetic")

_TIER_NAMES: dict[str, Tier] = {tier.lower().replace(" ", "-"): tier for tier in TIERS}


def tier_argument(text: str) -> Tier:
    """`likely-synthetic`, `Likely Synthetic` or `likely_synthetic` → "Likely Synthetic"."""
    key = text.strip().lower().replace(" ", "-").replace("_", "-")
    if key not in _TIER_NAMES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a tier; choose one of {', '.join(_TIER_NAMES)}")
    return _TIER_NAMES[key]


def add_detect_options(detect: argparse.ArgumentParser) -> None:
    detect.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files, folders, http(s) URLs, or - for the bytes on stdin; any number, in any mix",
    )
    detect.add_argument(
        "--recursive", "-r", action="store_true", help="look into the folders' subfolders too"
    )
    detect.add_argument(
        "--pattern",
        default=None,
        metavar="GLOB",
        help="only the files of the folders matching GLOB, e.g. '*.jpg'",
    )
    detect.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="table (default: a table of every image, or the full report of one), json (one document: "
        "results and totals), jsonl (one row per image as it finishes), csv (with a header row)",
    )
    detect.add_argument("--json", action="store_true", help="same as --format json")
    detect.add_argument(
        "--fail-on",
        type=tier_argument,
        default=None,
        metavar="TIER",
        help="exit with status 4 when any image reaches TIER or above: "
        + ", ".join(_TIER_NAMES)
        + " (for scripts and CI)",
    )
    detect.add_argument(
        "--no-deep-analysis",
        action="store_true",
        help="skip TruthScan's deep-analysis reasoning (faster; rows then carry no `analysis`)",
    )
    detect.add_argument(
        "--force", action="store_true", help="ignore the result cache and spend credits again"
    )
    detect.add_argument(
        "--report",
        default=None,
        metavar="DIR",
        help="also write each image's evidence report (HTML + JSON sidecar) into DIR, with an index "
        "page for several",
    )
    detect.add_argument(
        "--allow-partial",
        action="store_true",
        help="when the credits do not cover every new image, detect as many as they cover",
    )
